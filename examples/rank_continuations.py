"""Generate several continuations of one scene and let the VLM, as critic, rank them best first.

LTX-Video denoises the continuations as one batch (their noise drawn from one generator); Qwen2.5-VL
describes each clip and rates how plausible it is on [0, 10] (``critic.RATING_PROMPT``). A rating
answer without a number in range scores ``nan`` and ranks last; the raw answer is kept.

Offline, on the tiny random-weight pipeline (seconds; its ratings are gibberish, so most are ``nan``)::

    python examples/rank_continuations.py --output /tmp/ranked

With real weights (LTX-Video + Qwen2.5-VL-7B, downloaded or in local folders) on a GPU::

    python examples/rank_continuations.py --video-model Lightricks/LTX-Video --vlm Qwen/Qwen2.5-VL-7B-Instruct \\
        --image scene.png --height 480 --width 704 --num-frames 121 --steps 50 --continuations 4 \\
        --device cuda --dtype bfloat16 --output ranked/ --fast

Writes ``OUTPUT/rank_<r>.mp4`` (rank 0 = best) and ``OUTPUT/ranking.json`` (per rank: the
continuation's generation index, score, raw rating and description) and prints the ranking.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from PIL import Image

from foresight_models import ForesightPipeline, testing
from foresight_models.data.video import write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", action="append", help="context image(s); default: a drawn test scene")
    parser.add_argument("--video-model", default=None, help="LTX-Video id or folder (default: tiny)")
    parser.add_argument("--vlm", default=None, help="Qwen2.5-VL id or folder (needed with --video-model)")
    parser.add_argument("--prompt", default=None, help="motion prompt (default: the VLM writes one)")
    parser.add_argument("--continuations", type=int, default=3, help="how many futures to rank (>= 2)")
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--num-frames", type=int, default=9)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--output", type=Path, default=Path("outputs/ranked"))
    parser.add_argument(
        "--fast",
        action="store_true",
        help="the opt-in fast path (docs/performance.md): all clips "
        "described and rated in one batch; on a GPU also a static cache and compiled models",
    )
    args = parser.parse_args()
    if args.continuations < 2:
        parser.error(f"--continuations: ranking needs at least 2, got {args.continuations}")
    if (args.video_model is None) != (args.vlm is None):
        parser.error("--video-model and --vlm go together (the critic is the VLM); give both or neither")

    if args.video_model is None:
        torch.set_num_threads(min(torch.get_num_threads(), 2))  # tiny models gain nothing from more threads
        pipe = testing.tiny_pipeline()
    else:
        pipe = ForesightPipeline.from_components(args.video_model, args.vlm, torch_dtype=getattr(torch, args.dtype))
        pipe.to(args.device)
        pipe.set_progress_bar_config(disable=True)
    images = [Image.open(path) for path in args.image] if args.image else [testing.demo_image(128)]
    if args.fast:
        for piece, status in pipe.enable_fast_path().items():
            print(f"fast path: {piece}: {status}")

    out = pipe(
        images,
        prompt=args.prompt,
        height=args.height,
        width=args.width,
        num_frames=args.num_frames,
        num_inference_steps=args.steps,
        num_continuations=args.continuations,
        rate=True,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )

    args.output.mkdir(parents=True, exist_ok=True)
    ranking = []
    print(f"prompt: {out.prompt!r}  (seed {out.seed})")
    for rank, (clip, score, rating, text, index) in enumerate(
        zip(out.frames, out.scores, out.ratings, out.description, out.order)
    ):
        write_video(clip, args.output / f"rank_{rank}.mp4", fps=25)
        shown = "nan (no number in range)" if math.isnan(score) else f"{score:g}"
        print(f"#{rank}: continuation {index}, score {shown}; rating {rating!r}; description {text!r}")
        ranking.append(
            {
                "rank": rank,
                "continuation": index,
                "score": None if math.isnan(score) else score,
                "rating": rating,
                "description": text,
                "video": f"rank_{rank}.mp4",
            }
        )
    result = {"prompt": out.prompt, "seed": out.seed, "ranking": ranking}
    (args.output / "ranking.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"videos and ranking.json in {args.output}")


if __name__ == "__main__":
    main()
