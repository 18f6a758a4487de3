"""Model cards and uploads to the Hugging Face Hub, shared by the pipeline and the components.

diffusers' ``push_to_hub`` writes its generic card ("Model Card for Model ID") into the folder it
uploads. Our ``push_to_hub`` (and ``save_pretrained(push_to_hub=True)``) instead writes this
library's card, with Hub metadata (``library_name``, ``pipeline_tag``, ``tags``, ``base_model``,
``license``) and a usage snippet that names the pushed repository, before the single upload:

- :func:`render_card` builds a card's text; :func:`folder_metadata` reads ``base_model`` and
  ``license`` back from a folder (its card, a Hub-cache path, a config's ``_name_or_path``);
- :func:`push_folder` creates the repository and uploads a folder in one commit
  (``huggingface_hub.HfApi``; ``HF_ENDPOINT`` and ``token`` as usual);
- :class:`ComponentHubMixin` gives a ``ModelMixin`` component (adapters, heads, the frame decoder,
  ``HybridEncoder``, ``LTXConditioningAdapter``) a ``push_to_hub`` and ``save_pretrained(push_to_hub=True)``
  that upload its own small card.

This module imports neither diffusers nor the pipeline, so ``models/`` and ``conditioning.py`` can use it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "ComponentHubMixin",
    "component_card",
    "create_repo",
    "folder_metadata",
    "push_folder",
    "render_card",
    "upload",
    "write_card",
]

LIBRARY_URL = "https://github.com/foresight-models/foresight_models"
_HUB_CACHE_DIR = re.compile(r"models--([^/\\]+?)--([^/\\]+)")


def render_card(
    *,
    title: str,
    summary: str,
    usage: str,
    pipeline_tag: str | None,
    tags: Sequence[str],
    library_name: str = "diffusers",
    base_models: Sequence[str] = (),
    license: str | None = None,
    extra: str = "",
) -> str:
    """A model card (YAML metadata + markdown) with a ``python`` usage block."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(
        library_name=library_name,
        pipeline_tag=pipeline_tag,
        tags=list(tags),
        base_model=list(base_models) or None,
        license=license,
    )
    body = f"\n# {title}\n\n{summary}\n{extra}\n## Usage\n\n```python\n{usage.strip()}\n```\n"
    return f"---\n{data.to_yaml()}\n---\n{body}"


def write_card(folder: str | os.PathLike, text: str) -> str:
    """Write ``folder/README.md`` and return its path."""
    path = os.path.join(os.fspath(folder), "README.md")
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    return path


def _card_metadata(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, "README.md")
    if not os.path.isfile(path):
        return {}
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(path).data.to_dict()
    except Exception:  # a README without (valid) metadata: nothing to read
        return {}


def folder_metadata(folder: str | os.PathLike) -> tuple[list[str], str | None]:
    """``(base_models, license)`` a local checkpoint folder states about itself.

    ``base_model`` comes from the folder's card (``README.md`` metadata), else from the Hub id its path
    names when it is a Hub-cache snapshot (``.../models--owner--name/snapshots/<rev>``), else from the
    ``_name_or_path`` of its ``config.json`` when that is a Hub id; ``license`` from the card.
    """
    folder = os.path.abspath(os.fspath(folder))
    card = _card_metadata(folder)
    base = card.get("base_model")
    if isinstance(base, str):
        base = [base]
    if not base:
        match = _HUB_CACHE_DIR.search(folder)
        if match:
            base = [f"{match.group(1)}/{match.group(2)}"]
    if not base:
        try:
            with open(os.path.join(folder, "config.json")) as file:
                name = json.load(file).get("_name_or_path")
        except (OSError, ValueError, AttributeError):
            name = None
        if isinstance(name, str) and name.count("/") == 1 and not os.path.exists(name):
            base = [name]
    return list(base or []), card.get("license")


def create_repo(repo_id: str, *, token: str | None = None, private: bool | None = None) -> str:
    """Create ``repo_id`` on the Hub if needed; returns its full id (``owner/name``)."""
    from huggingface_hub import HfApi

    return HfApi(token=token).create_repo(repo_id, private=private, exist_ok=True).repo_id


def upload(folder: str, repo_id: str, *, token: str | None = None, create_pr: bool = False, commit_message: str | None = None):
    """Upload every file of ``folder`` (``.git`` and hidden entries excepted) to ``repo_id`` in one commit
    (``huggingface_hub.HfApi.create_commit`` with one ``CommitOperationAdd`` per file)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    operations = []
    for root, directories, files in os.walk(folder):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            in_repo = os.path.relpath(path, folder).replace(os.sep, "/")
            operations.append(CommitOperationAdd(path_in_repo=in_repo, path_or_fileobj=path))
    return HfApi(token=token).create_commit(
        repo_id=repo_id, operations=operations, commit_message=commit_message or "Upload with foresight_models",
        create_pr=create_pr,
    )  # fmt: skip


def push_folder(
    write: Callable[[str, str], None],
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
):
    """Create ``repo_id`` (if needed), run ``write(folder, full_repo_id)`` on a fresh temporary folder and
    upload it in one commit; returns the commit info."""
    full_id = create_repo(repo_id, token=token, private=private)
    with tempfile.TemporaryDirectory() as folder:
        write(folder, full_id)
        return upload(folder, full_id, token=token, create_pr=create_pr, commit_message=commit_message)


def component_card(module: Any, repo_id: str, *, base_models: Sequence[str] = (), license: str | None = None) -> str:
    """The card of one component: its class, its size and how to load it from ``repo_id``."""
    cls = type(module)
    parameters = sum(p.numel() for p in module.parameters())
    usage = f"from {cls.__module__} import {cls.__name__}\n\nmodel = {cls.__name__}.from_pretrained(\"{repo_id}\")"
    summary = (
        f"A `{cls.__name__}` ({parameters:,} parameters) from [foresight_models]({LIBRARY_URL}), a component of "
        "its `ForesightPipeline` (LTX-Video predicts a scene's future, Qwen2.5-VL describes it)."
    )
    return render_card(
        title=repo_id.split("/")[-1],
        summary=summary,
        usage=usage,
        pipeline_tag=None,
        tags=["foresight_models", cls.__name__],
        base_models=base_models,
        license=license,
    )


class ComponentHubMixin:
    """``push_to_hub`` / ``save_pretrained(push_to_hub=True)`` for a ``ModelMixin`` that upload this library's card.

    ``base_models`` and ``license`` (keyword arguments, or the attributes ``hub_base_models`` /
    ``hub_license``) go into the card's metadata.
    """

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        create_pr: bool = False,
        base_models: Sequence[str] | None = None,
        license: str | None = None,
        **save_kwargs: Any,
    ) -> str:
        """Save (safetensors) with this library's card into a temporary folder and upload it to ``repo_id``."""
        base_models = list(base_models if base_models is not None else getattr(self, "hub_base_models", []))
        license = license if license is not None else getattr(self, "hub_license", None)

        def write(folder: str, full_id: str) -> None:
            self.save_pretrained(folder, **save_kwargs)
            write_card(folder, component_card(self, full_id, base_models=base_models, license=license))

        return push_folder(
            write, repo_id, token=token, private=private, create_pr=create_pr, commit_message=commit_message
        )

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, push_to_hub: bool = False, **kwargs: Any):
        """``ModelMixin.save_pretrained``; with ``push_to_hub=True`` the folder, with this library's card, is
        then uploaded (``repo_id`` defaults to the folder name; ``token``, ``private``, ``create_pr``,
        ``commit_message`` as in :meth:`push_to_hub`)."""
        hub = {key: kwargs.pop(key) for key in ("repo_id", "token", "private", "create_pr", "commit_message") if key in kwargs}
        super().save_pretrained(save_directory, *args, **kwargs)
        if not push_to_hub:
            return None
        repo_id = hub.get("repo_id") or os.path.basename(os.path.abspath(os.fspath(save_directory)))
        full_id = create_repo(repo_id, token=hub.get("token"), private=hub.get("private"))
        base_models, license = getattr(self, "hub_base_models", []), getattr(self, "hub_license", None)
        write_card(save_directory, component_card(self, full_id, base_models=base_models, license=license))
        return upload(
            os.fspath(save_directory), full_id, token=hub.get("token"), create_pr=hub.get("create_pr", False),
            commit_message=hub.get("commit_message"),
        )  # fmt: skip
