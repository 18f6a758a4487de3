"""Cost of the LTX conditioning hooks: one LTX-Video 2B transformer forward with and without them.

The transformer has random weights of the real size (``foresight_models.presets.build``; timing does
not depend on weight values). Inputs are those of one guided denoising step of a 161x480x704 clip:
batch 2 (unconditional + conditional), 21x15x22 = 6930 latent tokens, 128 prompt tokens, and ``--k``
adapter tokens of width 4096. Rows: stock, ``cross_attention`` with frames first / keyframes / all,
and ``prompt`` with frames all / first. ``overhead_pct`` is relative to stock. Prints one JSON line.

    python benchmarks/conditioning_overhead.py                     # GPU, bf16
    python benchmarks/conditioning_overhead.py --tiny --iters 2    # CPU smoke check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time

import torch

from foresight_models import presets, testing
from foresight_models.conditioning import LTXConditioningAdapter, ltx_conditioning


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny transformer on CPU (smoke check)")
    parser.add_argument("--frames", type=int, default=161, help="pixel frames (8k + 1)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=704)
    parser.add_argument("--k", type=int, default=32, help="adapter tokens")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    return parser.parse_args()


def timed(fn, *, warmup: int, iters: int, device: torch.device) -> float:
    """Median milliseconds of ``fn()``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    args = parse_args()
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        transformer = testing.tiny_ltx_transformer()
        args.frames, args.height, args.width = 17, 64, 64
    else:
        device, dtype = torch.device("cuda"), torch.bfloat16
        transformer = presets.build("ltx-video-2b-transformer", device="cuda", dtype=dtype)
    config = transformer.config
    latent = ((args.frames - 1) // 8 + 1, args.height // 32, args.width // 32)
    if args.tiny:
        latent = ((args.frames - 1) // 4 + 1, args.height // 4, args.width // 4)
    n = latent[0] * latent[1] * latent[2]
    g = torch.Generator(device).manual_seed(0)
    inputs = {
        "hidden_states": torch.randn(2, n, config.in_channels, generator=g, device=device, dtype=dtype),
        "encoder_hidden_states": torch.randn(2, 128, config.caption_channels, generator=g, device=device, dtype=dtype),
        "timestep": torch.full((2, n), 500.0, device=device),
        "encoder_attention_mask": torch.ones(2, 128, dtype=torch.long, device=device),
        "num_frames": latent[0],
        "height": latent[1],
        "width": latent[2],
        "return_dict": False,
    }
    tokens = torch.randn(1, args.k, config.caption_channels, generator=g, device=device, dtype=dtype)
    conditioning = LTXConditioningAdapter.from_transformer(transformer)
    keyframes = sorted({0, latent[0] // 2, latent[0] - 1})
    variants = {
        "stock": None,
        "cross_attention_first": {"frames": "first"},
        "cross_attention_keyframes": {"frames": keyframes},
        "cross_attention_all": {"frames": "all"},
        "prompt_all": {"frames": "all", "mode": "prompt"},
        "prompt_first": {"frames": "first", "mode": "prompt"},
    }
    results = {}
    for name, options in variants.items():
        if options is None:
            context = contextlib.nullcontext()
        else:
            extra = () if options.get("mode") == "prompt" else (conditioning,)
            context = ltx_conditioning(transformer, tokens, *extra, **options)
        with context, torch.no_grad():
            results[f"{name}_ms"] = round(
                timed(lambda: transformer(**inputs), warmup=args.warmup, iters=args.iters, device=device), 2
            )
    stock = results["stock_ms"]
    for name in list(variants)[1:]:
        results[f"{name}_overhead_pct"] = round(100 * (results[f"{name}_ms"] / stock - 1), 1)
    card = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(json.dumps({"card": card, "tokens": n, "latent": latent, "k": args.k, **results}))


if __name__ == "__main__":
    main()
