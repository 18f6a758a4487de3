"""``foresight info``: versions, the device torch sees and the known architecture presets.

Example::

    foresight info --json
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _version(package: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def run(args: argparse.Namespace) -> int:
    import json
    import platform

    import torch

    from .. import __version__
    from ..presets import PRESETS

    info = {
        "foresight_models": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        **{package: _version(package) for package in ("transformers", "diffusers", "peft", "timm", "av")},
        "device": _device(),
        "presets": {name: preset.hub_id for name, preset in PRESETS.items()},
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(key) for key in info)
    for key, value in info.items():
        if key != "presets":
            print(f"{key:<{width}}  {value}")
    print("presets:")
    for name, preset in PRESETS.items():
        print(f"  {name:<26} {preset.hub_id or '-':<32} {preset.description}")
    return 0
