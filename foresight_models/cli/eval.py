"""``foresight eval``: score saved predictors and the baselines on a folder of clips.

Example::

    foresight eval clips/ --predictor head=checkpoints/head --metrics pixel_l1 ssim --out eval/
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "load_predictor", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="folder of *.safetensors clips with 'context' and 'future' (or 'frames') tensors")
    parser.add_argument(
        "--predictor",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a predictor saved with save_pretrained (its config names a foresight_models class); repeatable",
    )
    parser.add_argument(
        "--metrics", nargs="+", default=["pixel_l1", "ssim"], help="metric names (default: pixel_l1 ssim)"
    )
    parser.add_argument(
        "--baselines", nargs="*", default=["copy", "extrapolate"], help="baselines (default: copy extrapolate)"
    )
    parser.add_argument(
        "--psnr-max-db",
        type=float,
        default=None,
        metavar="DB",
        help="report psnr as min(PSNR, DB), so that exactly predicted frames (PSNR inf) can be compared",
    )
    parser.add_argument("--horizons", nargs="+", type=int, default=None, help="frames ahead to score (default: all)")
    parser.add_argument("--context-frames", type=int, default=None, help="split 'frames' items after this many frames")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--features", action="store_true", help="the clips are features, not pixels in [0, 1]")
    parser.add_argument("--reference", default="copy", help="predictor the others are compared with (default: copy)")
    parser.add_argument("--out", default=None, help="folder for report.json, report.md and horizons.png")
    parser.add_argument("--json", action="store_true", help="print the comparison rows as JSON instead of a table")


def load_predictor(path: str | Path):
    """Load a predictor folder written by ``save_pretrained``; its ``config.json`` ``_class_name`` must be a
    public ``foresight_models`` class."""
    import foresight_models

    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"predictor folder {path} has no config.json (save it with save_pretrained)")
    class_name = json.loads(config_file.read_text()).get("_class_name")
    if class_name not in foresight_models.__all__:
        raise ValueError(f"{config_file} names class {class_name!r}, which is not a public foresight_models class")
    cls = getattr(foresight_models, class_name)
    if not hasattr(cls, "from_pretrained"):
        raise ValueError(f"{class_name} cannot be loaded from a folder (it has no from_pretrained)")
    return cls.from_pretrained(path).eval()


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, TypeError) as error:
        print(f"foresight eval: error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from ..evaluation import ClipFolder, Metric, evaluate
    from ..metrics import psnr

    specs: dict[str, str] = {}
    for spec in args.predictor:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--predictor: expected NAME=PATH, got {spec!r}")
        if name in specs:
            raise ValueError(f"--predictor: the name {name!r} is given twice ({specs[name]!r} and {path!r}); names must be unique")
        specs[name] = path
    predictors = {name: load_predictor(path) for name, path in specs.items()}
    metrics = list(args.metrics)
    if args.psnr_max_db is not None:
        if "psnr" not in metrics:
            raise ValueError("--psnr-max-db is given but psnr is not among --metrics")
        capped = Metric("psnr", functools.partial(psnr, max_db=args.psnr_max_db), True)
        metrics = [capped if m == "psnr" else m for m in metrics]
    report = evaluate(
        predictors,
        ClipFolder(args.data),
        metrics=metrics,
        baselines=args.baselines,
        horizons=args.horizons,
        context_frames=args.context_frames,
        batch_size=args.batch_size,
        value_range=None if args.features else (0.0, 1.0),
        reference=args.reference,
    )
    if args.json:
        print(json.dumps(report.rows(), indent=2))
    else:
        print(report)
    if args.out is not None:
        paths = report.save(args.out)
        if not args.json:
            print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
