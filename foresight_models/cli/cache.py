"""``foresight cache``: run a frozen encoder over a dataset once and store its features for training.

Examples::

    foresight cache --config configs/examples/head.yaml --out cache/head
    foresight cache --data '{"kind": "synthetic", "num_clips": 256, "frames": 8, "size": 64}' \\
        --encoder '{"kind": "t5", "text_encoder": "tiny", "max_length": 16}' --out cache/prompts
    accelerate launch --num_processes 2 -m foresight_models.cli cache --config cfg.yaml   # shards split by process

The config file (YAML or JSON) holds a ``data`` section (as in a run config:
:func:`foresight_models.training.build_dataset`) and a ``cache`` section
(``{out_dir, encoder, batch_size, shard_size, dtype, fingerprint, metadata, local_files_only, num_workers}``;
``encoder`` is one encoder section or a list of them, cached in one pass). A training config works
too: without ``cache.encoder`` the ``task`` section's ``encoder`` (or ``source``) and its prompt
``target`` are cached. Flags override the file. Encoder sections are those of
:func:`foresight_models.training.specs.encoder_spec` (``patches``, ``hybrid``, ``vlm``, ``ltx_vae``, ``t5``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]

_CACHE_KEYS = (
    "out_dir",
    "encoder",
    "batch_size",
    "shard_size",
    "dtype",
    "fingerprint",
    "metadata",
    "local_files_only",
    "num_workers",
)
# sections of a training config that caching ignores
_TRAINING_KEYS = ("seed", "output_dir", "task", "eval", "optim", "checkpoint", "logging", "early_stopping")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="YAML or JSON file with 'data' and 'cache' sections")
    parser.add_argument("--data", default=None, metavar="JSON", help="the data section as JSON (overrides the file)")
    parser.add_argument(
        "--encoder", default=None, metavar="JSON", help='the encoder section as JSON, e.g. \'{"kind": "patches"}\''
    )
    parser.add_argument("--out", default=None, help="cache folder (overrides cache.out_dir)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--shard-size", type=int, default=None)
    parser.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"])
    parser.add_argument(
        "--fingerprint", default=None, help="a string naming the encoder's weights (default: config hash)"
    )
    parser.add_argument("--local-files-only", action="store_true", default=None, help="never contact the Hub")
    parser.add_argument("--process-index", type=int, default=None, help="with --num-processes: this process's share")
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, TypeError, KeyError) as error:
        message = str(error).replace("\n", " ")
        print(f"foresight cache: error: {message}", file=sys.stderr)
        return 2


def _json_option(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}: not valid JSON ({error.msg}): {value!r}") from None


def _run(args: argparse.Namespace) -> int:
    from .._validation import check_keys
    from ..training.config import read_config_file
    from ..training.datasets import build_dataset
    from ..training.specs import LoadOptions, encoder_spec

    config = read_config_file(args.config) if args.config else {}
    check_keys(config, "config", allowed=["data", "cache", *_TRAINING_KEYS])
    cache = check_keys(config.get("cache") or {}, "cache", allowed=_CACHE_KEYS)
    data = _json_option(args.data, "--data") if args.data else config.get("data")
    if data is None:
        raise ValueError("data: give a 'data' section in --config or --data JSON")
    encoder = _json_option(args.encoder, "--encoder") if args.encoder else cache.get("encoder")
    if encoder is None:  # a training config: what the task computes with frozen models
        task = config.get("task") or {}
        encoder = [spec for spec in (task.get("encoder", task.get("source")),) if spec is not None]
        if task.get("target") is not None:
            encoder.append({"kind": "t5", **task["target"]})
    if not encoder:
        raise ValueError("encoder: give cache.encoder in --config (or the task's encoder), or --encoder JSON")
    out_dir = args.out or cache.get("out_dir")
    if not out_dir:
        raise ValueError("out_dir: give cache.out_dir in --config or --out")
    for flag, key in (("batch_size", "batch_size"), ("shard_size", "shard_size"), ("dtype", "dtype")):
        if getattr(args, flag) is not None:
            cache[key] = getattr(args, flag)
    if args.fingerprint is not None:
        cache["fingerprint"] = args.fingerprint
    if args.local_files_only:
        cache["local_files_only"] = True
    options = LoadOptions.from_section({"local_files_only": cache.get("local_files_only", False)}, "cache")
    specs = encoder if isinstance(encoder, list) else [encoder]
    where = ["encoder"] if len(specs) == 1 else [f"encoder[{i}]" for i in range(len(specs))]
    builders = [encoder_spec(spec, name, options) for spec, name in zip(specs, where)]  # validate before loading
    dataset = build_dataset(data, "data")
    extractors = [build() for build in builders]

    from ..training.cache import cache_features
    from ..training.features import CombinedFeatures

    index = cache_features(
        extractors[0] if len(extractors) == 1 else CombinedFeatures(*extractors),
        dataset,
        out_dir,
        batch_size=cache.get("batch_size", 8),
        shard_size=cache.get("shard_size", 256),
        dtype=cache.get("dtype"),
        fingerprint=cache.get("fingerprint"),
        metadata=cache.get("metadata"),
        num_workers=cache.get("num_workers", 0),
        process_index=args.process_index,
        num_processes=args.num_processes,
        progress=args.progress,
    )
    if index is None:
        print(f"wrote this process's shards to {out_dir}; the index is merged once every process has finished")
    else:
        samples = len(json.loads(Path(index).read_text())["samples"])
        print(f"cached {samples} samples in {out_dir} ({index})")
    return 0
