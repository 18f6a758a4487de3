"""MkDocs hooks for the documentation site (listed under ``hooks`` in mkdocs.yml).

The docstrings use Sphinx roles (``:class:`HybridEncoder```, ``:func:`~foresight_models.testing.tiny_pipeline```),
which Markdown renders as the role's name followed by a code span. The site shows the code span only,
with ``~`` meaning "the last component", as Sphinx does.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)</code>")


def _code(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs) -> str:
    return _ROLE.sub(_code, html)
