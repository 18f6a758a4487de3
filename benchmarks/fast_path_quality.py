"""The fast path's quality on a trained model: frames' PSNR and unchanged answers, default vs fast.

The performance issue's bound for float8: the frames stay at least 30 dB PSNR from the bf16 ones
with the same seed, and the descriptions are unchanged in at least 9 of 10 prompts. Random weights
cannot test the second half (a random-weight VLM's answers mean nothing), so this runs the trained
foresight-tiny pipeline shipped with the package on held-out ``SyntheticMotion`` clips (seed 1000,
never used in training): for each clip, one call on the default path, then the same call after
``pipe.enable_fast_path(**pieces)``, with the same context images and seed. Per clip: the PSNR of
the fast frames against the default ones, whether the motion prompt and the description are the
same. The VLM writes the prompt on both paths; pieces that touch only the video (``fp8``) leave it
unchanged, so the description compares the VLM's reading of the two videos.

Prints one JSON object (and writes ``--out``): the date, command and versions, the fast path's status, per-clip figures, the lowest
and median PSNR, the counts of unchanged prompts and descriptions, and ``bound_met`` (every clip at
least ``--psnr-min`` dB and at most one description in ten changed). ``bound_met`` is ``None`` when
none of the pieces asked for is active (e.g. ``fp8`` on a CPU): then the two paths are the same code.

    python benchmarks/fast_path_quality.py --device cuda --dtype bfloat16 --fp8 --no-compile --out q.json
    python benchmarks/fast_path_quality.py --device cpu --num-clips 2        # smoke run: nothing active
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_e2e import psnr, versions  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-clips", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000, help="SyntheticMotion seed of the held-out clips")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--fp8", action="store_true", help="enable_fast_path(fp8=True)")
    parser.add_argument("--no-compile", action="store_true", help="enable_fast_path(compile=False)")
    parser.add_argument("--no-device-inputs", action="store_true", help="enable_fast_path(device_inputs=False)")
    parser.add_argument("--psnr-min", type=float, default=30.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.num_clips < 1:
        parser.error(f"--num-clips: expected >= 1, got {args.num_clips}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from foresight_models import ForesightPipeline
    from foresight_models.foresight_tiny import NUM_FRAMES, SIZE, foresight_tiny_clips, foresight_tiny_path
    from foresight_models.inputs import to_pil_images

    pipe = ForesightPipeline.from_pretrained(
        foresight_tiny_path(), local_files_only=True, torch_dtype=getattr(torch, args.dtype)
    ).to(args.device)
    pipe.set_progress_bar_config(disable=True)
    clips = foresight_tiny_clips(args.num_clips, seed=args.seed)
    call = dict(
        height=SIZE,
        width=SIZE,
        num_frames=NUM_FRAMES,
        num_inference_steps=16,
        guidance_scale=3.0,
        max_new_tokens=64,
        output_type="pt",
    )
    contexts = [to_pil_images(clips[i]["context"]) for i in range(args.num_clips)]

    def predict(index: int):
        with torch.inference_mode():
            return pipe(contexts[index], seed=index, **call)

    default = [predict(i) for i in range(args.num_clips)]
    requested = {"fp8": args.fp8, "compile": not args.no_compile, "device_inputs": not args.no_device_inputs}
    status = pipe.enable_fast_path(**requested)
    fast = [predict(i) for i in range(args.num_clips)]
    pipe.disable_fast_path()
    rows = [
        {
            "clip": i,
            "psnr_db": round(psnr(f.frames, d.frames), 2),
            "same_prompt": f.prompt == d.prompt,
            "same_description": f.description == d.description,
            "description_default": d.description[0],
            "description_fast": f.description[0],
        }
        for i, (d, f) in enumerate(zip(default, fast, strict=True))
    ]
    values = [row["psnr_db"] for row in rows]
    changed = sum(not row["same_description"] for row in rows)
    asked = {
        "fp8": args.fp8,
        "transformer_compile": not args.no_compile,
        "vlm_compile": not args.no_compile,
        "vlm_device_inputs": not args.no_device_inputs,
    }
    active = [piece for piece, on in asked.items() if on and status.get(piece) == "active"]
    result = {
        "benchmark": "fast_path_quality",
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/fast_path_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": "foresight-tiny",
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "dtype": args.dtype,
        "versions": versions(),
        "fast_path": status,
        "active_pieces_asked_for": active,
        "clips": rows,
        "psnr_min_db": min(values),
        "psnr_median_db": statistics.median(values),
        "same_prompts": sum(row["same_prompt"] for row in rows),
        "same_descriptions": len(rows) - changed,
        "num_clips": len(rows),
        "bound_met": None
        if not active
        else all(v >= args.psnr_min for v in values) and changed <= len(rows) // 10,
    }
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
