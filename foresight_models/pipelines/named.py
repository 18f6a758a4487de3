"""Loading a pipeline by name, and the call sizes that fit each kind of model.

``foresight predict --model``, ``foresight demo --model`` and :func:`load_pipeline` resolve a model the
same way: a name of :data:`NAMED_PIPELINES` (built or shipped with the library, offline), else a local
``ForesightPipeline`` folder, else a Hub id. :data:`CALL_DEFAULTS` holds the sizes a call uses when
none are given: foresight-tiny's own (``"tiny"``: the trained model shipped with the package, 128x128,
seconds on a CPU), smaller ones for the random-weight test pipeline (``"tiny-random"``), LTX-Video's
own for real checkpoints (``"real"``).
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

#: Call defaults per model kind (``"tiny"``: foresight-tiny, trained with one prompt in ten left empty,
#: so classifier-free guidance works, and with labels of ~40 bytes; ``"tiny-random"``: the random-weight
#: test pipeline; ``"real"``: LTX-Video checkpoints).
CALL_DEFAULTS: dict[str, dict[str, float]] = {
    "tiny": {"height": 128, "width": 128, "num_frames": 17, "steps": 16, "max_new_tokens": 64, "guidance_scale": 3.0},
    "tiny-random": {
        "height": 64,
        "width": 64,
        "num_frames": 17,
        "steps": 4,
        "max_new_tokens": 24,
        "guidance_scale": 3.0,
    },
    "real": {"height": 512, "width": 704, "num_frames": 121, "steps": 50, "max_new_tokens": 128, "guidance_scale": 3.0},
}


def _tiny_random_folder() -> str:
    from ..testing import tiny_pipeline_folder

    return tiny_pipeline_folder()


def _foresight_tiny_folder() -> str:
    from ..foresight_tiny import foresight_tiny_path

    return foresight_tiny_path()


#: Model names that load without a download: name -> a function returning the pipeline folder.
NAMED_PIPELINES: dict[str, Callable[[], str]] = {
    "tiny": _foresight_tiny_folder,  # foresight-tiny, trained on SyntheticMotion, shipped in the package
    "tiny-random": _tiny_random_folder,  # random weights: the real code path, gibberish text
}

#: A video transformer with fewer parameters than this is a toy model (LTX-Video checkpoints have billions).
TOY_PARAMETER_LIMIT = 100_000_000


def model_kind(model: str) -> str:
    """The :data:`CALL_DEFAULTS` key of a ``--model`` value: a name of :data:`NAMED_PIPELINES` is its own
    kind; a folder or Hub id is ``"real"``."""
    return model if model in NAMED_PIPELINES else "real"


def pipeline_kind(pipe: Any) -> str:
    """The :data:`CALL_DEFAULTS` key of a loaded pipeline: ``"real"`` when its video transformer has
    :data:`TOY_PARAMETER_LIMIT` parameters or more; else ``"tiny"`` for foresight-tiny's architecture
    (:func:`~foresight_models.foresight_tiny.is_foresight_tiny`) and ``"tiny-random"`` for other toy models."""
    from ..foresight_tiny import is_foresight_tiny

    parameters = sum(p.numel() for p in pipe.transformer.parameters())
    if parameters >= TOY_PARAMETER_LIMIT:
        return "real"
    return "tiny" if is_foresight_tiny(pipe) else "tiny-random"


def call_defaults(kind: str) -> dict[str, float]:
    """A copy of :data:`CALL_DEFAULTS` ``[kind]`` (``"tiny"``, ``"tiny-random"`` or ``"real"``)."""
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
