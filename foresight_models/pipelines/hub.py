"""Uploading a ``ForesightPipeline`` to the Hub with this library's model card.

``push_to_hub`` and ``save_pretrained(push_to_hub=True)`` write the pipeline folder *with* the card of
:mod:`foresight_models.pipelines.model_card` (``base_model``, ``license``, ``pipeline_tag``, tags, a
usage snippet loading the pushed repository) and upload it in one commit, through
:mod:`foresight_models.hub`; diffusers' generic card is never written.
"""

from __future__ import annotations

import os
from typing import Any

from ..hub import create_repo, folder_metadata, push_folder, upload

__all__ = ["HUB_ARGUMENTS", "pipeline_metadata", "push_pipeline", "upload_saved"]

#: ``save_pretrained(push_to_hub=True, ...)`` keyword arguments that belong to the upload.
HUB_ARGUMENTS = ("repo_id", "token", "private", "create_pr", "commit_message")


def push_pipeline(pipe: Any, repo_id: str, *, save_kwargs: dict[str, Any], **hub: Any):
    """Save ``pipe`` (its card naming the full repo id) into a temporary folder and upload it."""

    def write(folder: str, full_id: str) -> None:
        pipe.save_pretrained(folder, card_repo_id=full_id, **save_kwargs)

    return push_folder(write, repo_id, **hub)


def upload_saved(save, save_directory: str | os.PathLike, hub: dict[str, Any]):
    """``save_pretrained(push_to_hub=True)``: create the repo, ``save(repo_id)`` locally with the card naming
    it, then upload ``save_directory``."""
    repo_id = hub.get("repo_id") or os.path.basename(os.path.abspath(os.fspath(save_directory)))
    full_id = create_repo(repo_id, token=hub.get("token"), private=hub.get("private"))
    save(full_id)
    return upload(
        os.fspath(save_directory), full_id, token=hub.get("token"), create_pr=hub.get("create_pr", False),
        commit_message=hub.get("commit_message"),
    )  # fmt: skip


def pipeline_metadata(*folders: str | os.PathLike | None) -> tuple[list[str], str | None]:
    """Base models and license stated by the given local folders (in order; duplicates dropped)."""
    base_models: list[str] = []
    license = None
    for folder in folders:
        if folder is None or not os.path.isdir(os.fspath(folder)):
            continue
        ids, folder_license = folder_metadata(folder)
        base_models += [model for model in ids if model not in base_models]
        license = license or folder_license
    return base_models, license
