"""The documentation site covers the package: every public name has an API reference entry, every
page is in the navigation. Checked from the sources, without building the site (CI builds it with
`mkdocs build --strict`, which fails on a broken link or a docstring that does not render)."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import foresight_models

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DIRECTIVE = re.compile(r"^:::\s*(?P<module>[\w.]+)\s*$")
MEMBERS = re.compile(r"^\s+members:\s*\[(?P<names>[^\]]*)\]\s*$")


def reference_directives(text: str) -> list[tuple[str, list[str] | None]]:
    """`(module, members)` of each `::: module` directive; `members` is None unless listed explicitly
    as `members: [a, b]` in the directive's options."""
    directives: list[tuple[str, list[str] | None]] = []
    for line in text.splitlines():
        match = DIRECTIVE.match(line)
        if match:
            directives.append((match["module"], None))
            continue
        members = MEMBERS.match(line)
        if members and directives:
            names = [n.strip().strip("'\"") for n in members["names"].split(",") if n.strip()]
            directives[-1] = (directives[-1][0], names)
    return directives


def documented_names(module_name: str, members: list[str] | None) -> list[str]:
    """The names mkdocstrings renders for a directive (`filters: public`: the module's `__all__`, or
    its names without a leading underscore)."""
    module = importlib.import_module(module_name)
    if members is not None:
        return members
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name in vars(module) if not name.startswith("_")]


def documented_objects() -> dict[int, str]:
    """id(object) -> `module.name` for everything the reference pages render."""
    objects: dict[int, str] = {}
    for page in sorted((DOCS / "reference").glob("*.md")):
        for module_name, members in reference_directives(page.read_text(encoding="utf-8")):
            module = importlib.import_module(module_name)
            for name in documented_names(module_name, members):
                assert hasattr(module, name), f"{page.name}: `::: {module_name}` documents {name!r}, which it lacks"
                objects[id(getattr(module, name))] = f"{module_name}.{name}"
    return objects


def test_directive_parser():
    text = "# Models\n\n::: foresight_models.models.heads\n\n::: foresight_models.presets\n    options:\n      members: [build, 'PRESETS']\n"
    assert reference_directives(text) == [
        ("foresight_models.models.heads", None),
        ("foresight_models.presets", ["build", "PRESETS"]),
    ]


def test_every_public_name_is_in_the_api_reference():
    objects = documented_objects()
    missing = [
        name
        for name in foresight_models.__all__
        if name != "__version__" and id(getattr(foresight_models, name)) not in objects
    ]
    assert not missing, f"public names without an entry in docs/reference/*.md: {missing}"


def test_every_page_is_in_the_navigation():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:") :]
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    missing = [page for page in pages if not re.search(rf"(:\s*|-\s+){re.escape(page)}\s*$", nav, re.MULTILINE)]
    assert not missing, f"pages missing from the nav of mkdocs.yml: {missing}"


def test_docs_extra_lists_the_build_tools():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    line = next(line for line in pyproject.splitlines() if line.startswith("docs = ["))
    for package in ("mkdocs>=", "mkdocs-material>=", "mkdocstrings[python]>=", "mkdocstrings-python>="):
        assert f'"{package}' in line, f"the docs extra must require {package[:-2]}"


def test_sphinx_roles_in_docstrings_render_as_code():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "mkdocs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = (
        "<p>see :class:<code>HybridEncoder</code>, :func:<code>~foresight_models.testing.tiny_pipeline</code>"
        " and :meth:<code>ForesightPipeline.stream</code>; keep a:b <code>c</code></p>"
    )
    assert hooks.on_page_content(html, page=None, config=None, files=None) == (
        "<p>see <code>HybridEncoder</code>, <code>tiny_pipeline</code>"
        " and <code>ForesightPipeline.stream</code>; keep a:b <code>c</code></p>"
    )
