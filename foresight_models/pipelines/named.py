"""Loading a pipeline by name, and the call sizes that fit each kind of model.

``foresight predict --model``, ``foresight demo --model`` and :func:`load_pipeline` resolve a model the
same way: a name of :data:`NAMED_PIPELINES` (built or shipped with the library, offline), else a local
``ForesightPipeline`` folder, else a Hub id. :data:`CALL_DEFAULTS` holds the sizes a call uses when
none are given: small ones for the tiny offline models (seconds on a CPU), LTX-Video's own for real
checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "CALL_DEFAULTS",
    "NAMED_PIPELINES",
    "TOY_PARAMETER_LIMIT",
    "call_defaults",
    "load_pipeline",
    "model_kind",
    "pipeline_kind",
]

#: Call defaults per model kind (``"tiny"``: the offline tiny models; ``"real"``: LTX-Video checkpoints).
CALL_DEFAULTS: dict[str, dict[str, float]] = {
    "tiny": {"height": 64, "width": 64, "num_frames": 17, "steps": 4, "max_new_tokens": 24, "guidance_scale": 3.0},
    "real": {"height": 512, "width": 704, "num_frames": 121, "steps": 50, "max_new_tokens": 128, "guidance_scale": 3.0},
}


def _tiny_random_folder() -> str:
    from ..testing import tiny_pipeline_folder

    return tiny_pipeline_folder()


#: Model names that load without a download: name -> a function returning the pipeline folder.
NAMED_PIPELINES: dict[str, Callable[[], str]] = {
    "tiny": _tiny_random_folder,
    "tiny-random": _tiny_random_folder,  # random weights: the real code path, gibberish text
}

#: A video transformer with fewer parameters than this is a toy model and gets the ``"tiny"`` defaults.
TOY_PARAMETER_LIMIT = 100_000_000


def model_kind(model: str) -> str:
    """``"tiny"`` for a name of :data:`NAMED_PIPELINES`, ``"real"`` for a folder or Hub id."""
    return "tiny" if model in NAMED_PIPELINES else "real"


def pipeline_kind(pipe: Any) -> str:
    """``"tiny"`` when ``pipe``'s video transformer has fewer than :data:`TOY_PARAMETER_LIMIT` parameters
    (LTX-Video checkpoints have billions), else ``"real"``."""
    parameters = sum(p.numel() for p in pipe.transformer.parameters())
    return "tiny" if parameters < TOY_PARAMETER_LIMIT else "real"


def call_defaults(kind: str) -> dict[str, float]:
    """A copy of :data:`CALL_DEFAULTS` ``[kind]`` (``"tiny"`` or ``"real"``)."""
    if kind not in CALL_DEFAULTS:
        raise ValueError(f"kind: expected one of {sorted(CALL_DEFAULTS)}, got {kind!r}")
    return dict(CALL_DEFAULTS[kind])


def load_pipeline(model: str = "tiny", *, torch_dtype: Any = None, local_files_only: bool = False) -> Any:
    """Load a :class:`~foresight_models.pipelines.foresight_pipeline.ForesightPipeline` by name, folder or Hub id.

    Args:
        model: a name of :data:`NAMED_PIPELINES` (always offline), a local pipeline folder (``~`` is
            expanded) or a Hub id.
        torch_dtype: the weights' dtype (``None``: as saved).
        local_files_only: never download (implied for a name of :data:`NAMED_PIPELINES`).

    Raises:
        TypeError: ``model`` is not a string.
        OSError: the folder or Hub id cannot be loaded (as raised by ``from_pretrained``).
    """
    from .foresight_pipeline import ForesightPipeline

    if not isinstance(model, str):
        raise TypeError(f"model: expected a name, a folder or a Hub id (str), got {type(model).__name__}")
    if model in NAMED_PIPELINES:
        folder, local_files_only = NAMED_PIPELINES[model](), True
    else:
        path = Path(model).expanduser()
        folder = str(path) if path.exists() else model
    return ForesightPipeline.from_pretrained(folder, torch_dtype=torch_dtype, local_files_only=local_files_only)
