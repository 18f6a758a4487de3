"""foresight_models: visual foresight with LTX-Video and Qwen2.5-VL, as composable PyTorch modules.

Importing the package is cheap: public names are resolved lazily, so ``import foresight_models``
imports neither ``diffusers`` nor ``transformers`` until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY_NAMES: dict[str, str] = {
    # presets
    "PRESETS": "foresight_models.presets",
    "Preset": "foresight_models.presets",
    "build_preset": "foresight_models.presets",
    # shared blocks
    "Attention": "foresight_models.models.layers",
    "CrossAttentionBlock": "foresight_models.models.layers",
    "FeedForward": "foresight_models.models.layers",
    "SelfAttentionBlock": "foresight_models.models.layers",
}

_SUBMODULES = ("presets", "testing", "models", "metrics", "data", "training", "cli", "inputs")

__all__ = ["__version__", *_LAZY_NAMES]

if TYPE_CHECKING:  # pragma: no cover - for static analysis and IDEs only
    from .models.layers import Attention, CrossAttentionBlock, FeedForward, SelfAttentionBlock
    from .presets import PRESETS, Preset
    from .presets import build as build_preset


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        module = importlib.import_module(_LAZY_NAMES[name])
        value = getattr(module, "build" if name == "build_preset" else name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
