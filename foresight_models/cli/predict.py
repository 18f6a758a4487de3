"""``foresight predict``: predict what happens next after one or more images, write the video and its description.

Writes into ``--out``: ``prediction.mp4`` (the best continuation), ``contact_sheet.png`` (one row of
frames per continuation, best first), ``description.txt`` and ``result.json`` (prompt, question,
descriptions, scores, seed, sizes, files). With ``--continuations N > 1`` the other clips are
written as ``continuation_<rank>.mp4``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]

#: Defaults per model kind: the tiny offline model runs in seconds on a CPU; real checkpoints use LTX's sizes.
_DEFAULTS = {
    "tiny": {"height": 64, "width": 64, "num_frames": 17, "steps": 4, "max_new_tokens": 24},
    "real": {"height": 512, "width": 704, "num_frames": 121, "steps": 50, "max_new_tokens": 128},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image",
        action="append",
        required=True,
        metavar="PATH",
        help="context image; repeat for several (the last one is the frame the video continues)",
    )
    parser.add_argument("--prompt", default=None, help="motion prompt (default: the VLM writes it from the images)")
    parser.add_argument("--question", default="What happens next?", help="what the VLM is asked about the video")
    parser.add_argument(
        "--model",
        default="tiny",
        help="a ForesightPipeline folder or Hub id, or 'tiny' (random-weight tiny pipeline, offline; the default)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--height", type=int, default=None, help="video height, multiple of 32")
    parser.add_argument("--width", type=int, default=None, help="video width, multiple of 32")
    parser.add_argument("--num-frames", type=int, default=None, help="video frames, 8k + 1")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps")
    parser.add_argument("--guidance-scale", type=float, default=3.0, help="classifier-free guidance scale")
    parser.add_argument("--continuations", type=int, default=1, help="futures to generate and rank (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="VLM tokens per answer")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the written video")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None, help="weights dtype")
    parser.add_argument("--cpu-offload", action="store_true", help="enable model CPU offload (needs an accelerator)")
    parser.add_argument("--local-files-only", action="store_true", help="never download (implied for 'tiny')")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _load_images(paths: list[str]) -> list[Any]:
    from PIL import Image

    images = []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--image: no such file: {path!r}")
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def _contact_sheet(clips: list[list[Any]], max_columns: int = 9) -> Any:
    """One row per clip of at most ``max_columns`` evenly spaced frames."""
    from PIL import Image

    columns = min(max_columns, len(clips[0]))
    w, h = clips[0][0].size
    sheet = Image.new("RGB", (columns * w, len(clips) * h), (0, 0, 0))
    for row, frames in enumerate(clips):
        picks = [round(i * (len(frames) - 1) / max(columns - 1, 1)) for i in range(columns)]
        for column, index in enumerate(picks):
            sheet.paste(frames[index], (column * w, row * h))
    return sheet


def _load_pipeline(args: argparse.Namespace, device: str, dtype: Any) -> Any:
    from ..pipelines import ForesightPipeline

    if args.model == "tiny":
        from ..testing import tiny_pipeline_folder

        folder, local_only = tiny_pipeline_folder(), True
    else:
        folder, local_only = args.model, args.local_files_only
    pipe = ForesightPipeline.from_pretrained(folder, torch_dtype=dtype, local_files_only=local_only)
    if args.cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from ..data.video import write_video
    from ..pipelines.events import Description, Done, Frames, Progress, TextDelta

    kind = "tiny" if args.model == "tiny" else "real"
    defaults = _DEFAULTS[kind]
    # an explicit value, even an invalid one such as 0, goes to the pipeline, which names what is allowed
    height = defaults["height"] if args.height is None else args.height
    width = defaults["width"] if args.width is None else args.width
    num_frames = defaults["num_frames"] if args.num_frames is None else args.num_frames
    steps = defaults["steps"] if args.steps is None else args.steps
    max_new_tokens = defaults["max_new_tokens"] if args.max_new_tokens is None else args.max_new_tokens
    if args.fps <= 0:
        raise ValueError(f"--fps: expected a positive frame rate, got {args.fps}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype) if args.dtype else None

    images = _load_images(args.image)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pipe = _load_pipeline(args, device, dtype)

    bars: dict[str, Any] = {}

    def bar(key: str, **kwargs: Any) -> Any:
        if key not in bars:
            bars[key] = tqdm(disable=args.quiet, file=sys.stderr, leave=True, **kwargs)
        return bars[key]

    result = None
    for event in pipe.stream(
        images,
        prompt=args.prompt,
        question=args.question,
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=steps,
        guidance_scale=args.guidance_scale,
        num_continuations=args.continuations,
        seed=args.seed,
        max_new_tokens=max_new_tokens,
        output_type="pil",
    ):
        if isinstance(event, TextDelta):
            label = event.stage if event.index is None else f"{event.stage} {event.index}"
            bar(label, desc=label, unit="piece").update(1)
        elif isinstance(event, Progress):
            bar("denoise", desc="denoising", total=event.total, unit="step").update(1)
        elif isinstance(event, (Frames, Description)):
            pass
        elif isinstance(event, Done):
            result = event.output
    for progress in bars.values():
        progress.close()

    files = {"video": "prediction.mp4", "contact_sheet": "contact_sheet.png", "description": "description.txt"}
    write_video(result.frames[0], out / files["video"], args.fps)
    for rank, clip in enumerate(result.frames[1:], start=1):
        name = f"continuation_{rank}.mp4"
        write_video(clip, out / name, args.fps)
        files[f"continuation_{rank}"] = name
    _contact_sheet(result.frames).save(out / files["contact_sheet"])
    description = result.description[0] if result.description else ""
    (out / files["description"]).write_text(description + "\n", encoding="utf-8")
    record = {
        "model": args.model,
        "images": [os.path.abspath(path) for path in args.image],
        "prompt": result.prompt,
        "question": args.question,
        "description": result.description,
        "scores": None if result.scores is None else [None if math.isnan(s) else s for s in result.scores],
        "ratings": result.ratings,
        "order": result.order,
        "seed": result.seed,
        "height": height,
        "width": width,
        "num_frames": num_frames,
        "num_inference_steps": steps,
        "guidance_scale": args.guidance_scale,
        "fps": args.fps,
        "device": device,
        "seconds": round(time.perf_counter() - start, 3),
        "files": {**files, "result": "result.json"},
    }
    (out / "result.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"prediction written to {out} (prompt: {result.prompt!r})")
    print(f"description: {description}")
    return 0
