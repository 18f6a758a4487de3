"""``foresight train``: train a task from a run configuration (YAML or JSON).

Example::

    foresight train --config configs/head.yaml
    foresight train --config configs/head.yaml --resume never --max-steps 50 --output-dir runs/try
    accelerate launch --multi_gpu --num_processes 2 -m foresight_models.cli train --config configs/head.yaml

The run folder (``output_dir``) receives ``config.json``, ``logs.jsonl``, ``checkpoints/`` and, at the
end, ``final/`` (the trained modules, ``save_pretrained`` folders). A configuration error, or a
checkpoint that cannot be resumed, prints one ``foresight train: error: ...`` line and exits with 2.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="PATH", help="the run configuration (.yaml, .yml or .json)")
    parser.add_argument(
        "--resume",
        default="auto",
        metavar="auto|never|PATH",
        help="auto: continue from the newest checkpoint that verifies (the default); never: start afresh; "
        "or a checkpoint folder",
    )
    parser.add_argument("--max-steps", type=int, default=None, metavar="N", help="override optim.max_steps")
    parser.add_argument(
        "--until-step",
        type=int,
        default=None,
        metavar="N",
        help="stop after step N with a checkpoint (the schedule still runs to max_steps); run again to continue",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop with a checkpoint once this many seconds have passed (a job under a wall-clock limit); "
        "run again to continue",
    )
    parser.add_argument("--output-dir", default=None, metavar="DIR", help="override output_dir")


def run(args: argparse.Namespace) -> int:
    from ..training.checkpoint import CheckpointError
    from ..training.config import load_config
    from ..training.trainer import build_trainer

    overrides: dict = {}
    if args.max_steps is not None:
        overrides["optim"] = {"max_steps": args.max_steps}
    if args.output_dir is not None:
        overrides["output_dir"] = args.output_dir
    try:
        if args.until_step is not None and args.until_step < 1:
            raise ValueError(f"--until-step: expected a step >= 1, got {args.until_step}")
        if args.time_limit is not None and not args.time_limit > 0:
            raise ValueError(f"--time-limit: expected a number of seconds > 0, got {args.time_limit}")
        config = load_config(args.config, overrides=overrides)
        trainer = build_trainer(config)
    except (FileNotFoundError, ValueError, TypeError) as error:
        print(f"foresight train: error: {error}", file=sys.stderr)
        return 2
    try:
        result = trainer.train(resume=args.resume, until_step=args.until_step, time_limit=args.time_limit)
    except CheckpointError as error:  # raised before the first step: nothing to resume from, or a refused folder
        print(f"foresight train: error: {error}", file=sys.stderr)
        return 2
    if result.finished:
        print(f"trained to step {result.step}; final modules in {result.final_dir}")
    else:
        print(f"stopped at step {result.step} of {config.optim.max_steps}; run again to continue")
    return 0
