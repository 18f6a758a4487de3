"""Predict what happens next after an image, streaming the VLM's text and the denoising progress.

Offline, on foresight-tiny (the small model trained on SyntheticMotion and shipped in the package; a few
seconds on a CPU), from two frames of a held-out clip in ``examples/assets``::

    python examples/predict.py --output /tmp/predict

With real weights (LTX-Video + Qwen2.5-VL-7B, Hub ids or local folders in the Hub layout)::

    python examples/predict.py --video-model Lightricks/LTX-Video --vlm Qwen/Qwen2.5-VL-7B-Instruct \\
        --image scene.png --height 480 --width 704 --num-frames 121 --steps 50 --continuations 3 \\
        --device cuda --dtype bfloat16 --output predictions/

Writes ``OUTPUT/continuation_<rank>.mp4`` (best first) and prints the prompt, descriptions and scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

from foresight_models import ForesightPipeline, load_pipeline
from foresight_models.data.video import write_video
from foresight_models.pipelines.events import Description, Done, Frames, Progress, TextDelta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--image", action="append", help="context image(s); default: frames 0 and 3 of a held-out SyntheticMotion clip"
    )
    parser.add_argument("--video-model", default=None, help="LTX-Video id or folder (default: foresight-tiny)")
    parser.add_argument("--vlm", default=None, help="Qwen2.5-VL id or folder (with --video-model)")
    parser.add_argument("--prompt", default=None)
    parser.add_argument(
        "--context-conditioning",
        choices=("last", "all"),
        default="last",
        help="'all': every --image is a frame of the clip (LTX-Video >= 0.9.5; one continuation with several "
        "images); 'last': image-to-video from the last",
    )
    parser.add_argument("--lora", default=None, help="an LTX-Video LoRA folder (diffusers format) for the transformer")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--num-frames", type=int, default=17)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--guidance-scale", type=float, default=3.0, help="classifier-free guidance (foresight-tiny and LTX-Video: 3.0)")
    parser.add_argument("--continuations", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--output", type=Path, default=Path("outputs/predict"))
    args = parser.parse_args()

    if args.video_model is None:
        torch.set_num_threads(min(torch.get_num_threads(), 2))  # tiny models gain nothing from more threads
        pipe = load_pipeline("tiny")
    else:
        pipe = ForesightPipeline.from_components(args.video_model, args.vlm, torch_dtype=getattr(torch, args.dtype))
        pipe.to(args.device)
        pipe.set_progress_bar_config(disable=True)
    if args.lora is not None:
        pipe.load_lora_weights(args.lora, adapter_name="lora")
    assets = Path(__file__).resolve().parent / "assets"
    paths = args.image or [assets / "heldout_frame_0.png", assets / "heldout_frame_3.png"]
    images = [Image.open(path) for path in paths]

    for event in pipe.stream(
        images,
        prompt=args.prompt,
        height=args.height,
        width=args.width,
        num_frames=args.num_frames,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance_scale,
        num_continuations=args.continuations,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        context_conditioning=args.context_conditioning,
    ):
        if isinstance(event, TextDelta):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Progress):
            print(f"\n[denoising step {event.step}/{event.total}]", end="")
        elif isinstance(event, Frames):
            print(f"\n[continuation {event.index}: {len(event.frames)} frames]")
        elif isinstance(event, Description):
            print(f"\n[continuation {event.index} described; score {event.score}]")
        elif isinstance(event, Done):
            result = event.output

    args.output.mkdir(parents=True, exist_ok=True)
    for rank, clip in enumerate(result.frames):
        write_video(clip, args.output / f"continuation_{rank}.mp4", fps=25)
    print(f"\nprompt: {result.prompt!r}")
    for rank, text in enumerate(result.description):
        score = None if result.scores is None else result.scores[rank]
        print(f"#{rank} (generated {result.order[rank]}, score {score}): {text!r}")
    print(f"seed {result.seed}; videos in {args.output}")


if __name__ == "__main__":
    main()
