"""The ``foresight`` command.

Each subcommand lives in its own module of this package with an ``add_arguments(parser)`` and a
``run(args) -> int`` (the exit status), and is listed once in :data:`COMMANDS`. To add a command,
write ``cli/<name>.py`` with those two functions and add one :class:`Command` line to the table.
``foresight --version`` prints the package version.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import __version__
from . import cache as cache_command
from . import demo as demo_command
from . import eval as eval_command
from . import info as info_command
from . import predict as predict_command
from . import train as train_command

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """One ``foresight`` subcommand: its name, one-line help and the two functions of its module."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _commands(*commands: Command) -> dict[str, Command]:
    return {command.name: command for command in commands}


#: Every subcommand, in the order ``foresight --help`` lists them.
COMMANDS: dict[str, Command] = _commands(
    Command("info", "versions, device and the known architecture presets", info_command.add_arguments, info_command.run),
    Command(
        "predict",
        "predict what happens next after one or more images: a video, a contact sheet and a description",
        predict_command.add_arguments,
        predict_command.run,
    ),
    Command(
        "eval",
        "score saved predictors and the copy / extrapolation baselines on a folder of clips",
        eval_command.add_arguments,
        eval_command.run,
    ),
    Command(
        "train",
        "train a task from a config file (YAML or JSON), with crash-safe checkpoints and exact resume",
        train_command.add_arguments,
        train_command.run,
    ),
    Command(
        "cache",
        "run a frozen encoder over a dataset once and write its features as safetensors shards",
        cache_command.add_arguments,
        cache_command.run,
    ),
    Command(
        "demo",
        "serve a browser app: upload images, watch the prompt, the video and the description stream in",
        demo_command.add_arguments,
        demo_command.run,
    ),
    # New commands go here, one Command each, from their own module.
)


def build_parser() -> argparse.ArgumentParser:
    """The ``foresight`` argument parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="foresight",
        description="Visual foresight: predict what happens next as a video and describe it.",
    )
    parser.add_argument("--version", action="version", version=f"foresight_models {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run_command=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``foresight`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run_command", None) is None:
        parser.print_help()
        return 2
    return args.run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
