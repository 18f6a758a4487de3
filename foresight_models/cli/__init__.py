"""The ``foresight`` command.

Subcommands are registered in :data:`COMMANDS`; each has an ``add_arguments(parser)`` and a
``run(args) -> int``. ``foresight --version`` prints the package version.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import __version__
from . import cache as cli_cache
from . import eval as cli_eval
from . import predict as cli_predict

__all__ = ["COMMANDS", "Command", "main"]


@dataclass(frozen=True)
class Command:
    """One ``foresight`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _run_info(args: argparse.Namespace) -> int:
    import importlib.metadata
    import json
    import platform

    import torch

    from ..presets import PRESETS

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    info = {
        "foresight_models": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
        "diffusers": version("diffusers"),
        "peft": version("peft"),
        "timm": version("timm"),
        "av": version("av"),
        "device": device,
        "presets": {name: preset.hub_id for name, preset in PRESETS.items()},
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(key) for key in info)
    for key, value in info.items():
        if key == "presets":
            continue
        print(f"{key:<{width}}  {value}")
    print("presets:")
    for name, preset in PRESETS.items():
        print(f"  {name:<26} {preset.hub_id or '-':<32} {preset.description}")
    return 0


COMMANDS: dict[str, Command] = {
    "info": Command("info", "versions, device and the known architecture presets", _info_arguments, _run_info),
    "predict": Command(
        "predict",
        "predict what happens next after one or more images: a video, a contact sheet and a description",
        cli_predict.add_arguments,
        cli_predict.run,
    ),
    "eval": Command(
        "eval",
        "score saved predictors and the copy / extrapolation baselines on a folder of clips",
        cli_eval.add_arguments,
        cli_eval.run,
    ),
    "cache": Command(
        "cache",
        "run a frozen encoder over a dataset once and store its features (safetensors shards + index)",
        cli_cache.add_arguments,
        cli_cache.run,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foresight",
        description="Visual foresight: predict what happens next as a video and describe it.",
    )
    parser.add_argument("--version", action="version", version=f"foresight_models {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``foresight`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    return args._run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
