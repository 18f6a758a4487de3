"""Sweep which latent frames receive adapter conditioning and how strongly, and measure temporal consistency.

For every image in a folder and every (frames, strength) pair, LTX-Video image-to-video generates a
clip with :func:`foresight_models.conditioning.ltx_conditioning` installed; the clip is written to
``OUTPUT/<image>/<frames>_s<strength>.mp4`` and its temporal consistency (mean cosine similarity of
consecutive frames) to ``OUTPUT/results.csv``. Strength 0 is the unconditioned baseline.

Offline, on the tiny random-weight components (a few seconds)::

    python examples/conditioning_sweep.py --tiny --output /tmp/sweep

With real weights (a local ``LTXImageToVideoPipeline`` folder, e.g. Lightricks/LTX-Video)::

    python examples/conditioning_sweep.py --pipeline /models/LTX-Video --images scenes/ \\
        --tokens tokens.safetensors --conditioning trained_adapter/ --height 480 --width 704 \\
        --num-frames 161 --steps 50 --device cuda --dtype bfloat16

``--tokens`` is a safetensors file with one ``(k, caption_channels)`` tensor per image, keyed by the
image's file stem (e.g. the output of a trained adapter); without it, the pipeline's own T5
embedding of ``--condition-text`` is used as the adapter tokens.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

import torch

from foresight_models import testing
from foresight_models.conditioning import LTXConditioningAdapter, ltx_conditioning
from foresight_models.data.video import write_video
from foresight_models.inputs import to_frames
from foresight_models.metrics.video import temporal_consistency

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def parse_frames(text: str) -> str | list[int]:
    """``first``, ``all`` or comma-separated latent-frame indices such as ``0,4,8``."""
    if text in ("first", "all"):
        return text
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"frames must be 'first', 'all' or indices like 0,4,8, got {text!r}") from None


def load_images(folder: Path | None, *, height: int, width: int) -> dict[str, torch.Tensor]:
    """``name -> (3, h, w)`` float images in [0, 1]; a synthetic scene when no folder is given."""
    from PIL import Image

    if folder is None:
        y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        disc = ((x + 0.4) ** 2 + y**2 < 0.15).float()
        return {"synthetic": torch.stack([disc, 0.5 * (x + 1), 0.3 + 0.4 * disc])}
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return {p.stem: to_frames(Image.open(p).convert("RGB").resize((width, height)))[0, 0] for p in paths}


def adapter_tokens_for(name: str, args: argparse.Namespace, pipe, cache: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, k, caption_channels)`` tokens and their bool mask ``(1, k)`` for one image."""
    device = pipe.transformer.device
    if args.tokens is not None:
        if name not in cache:
            raise SystemExit(f"{args.tokens} has no tokens for image {name!r}")
        tokens = cache[name].to(device=device, dtype=pipe.transformer.dtype)
        return tokens[None], torch.ones(1, tokens.shape[0], dtype=torch.bool, device=device)
    embeds, mask, _, _ = pipe.encode_prompt(
        args.condition_text,
        do_classifier_free_guidance=False,
        max_sequence_length=args.max_sequence_length,
        device=device,
    )
    return embeds, mask.bool()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tiny", action="store_true", help="use the tiny random-weight components (offline)")
    source.add_argument("--pipeline", type=Path, help="local LTXImageToVideoPipeline folder")
    parser.add_argument("--images", type=Path, help="folder of images (default: one synthetic scene)")
    parser.add_argument("--output", type=Path, required=True, help="where clips and results.csv go")
    parser.add_argument("--frames", type=parse_frames, nargs="+", default=["first", "all"])
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    parser.add_argument("--mode", choices=["cross_attention", "prompt"], default="cross_attention")
    parser.add_argument("--tokens", type=Path, help="safetensors file: image stem -> (k, caption_channels) tokens")
    parser.add_argument("--conditioning", type=Path, help="saved LTXConditioningAdapter folder")
    parser.add_argument("--prompt", default="what happens next")
    parser.add_argument("--condition-text", default="the ball moves to the right")
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--num-frames", type=int, default=9)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--guidance-scale", type=float, default=3.0)
    parser.add_argument("--max-sequence-length", type=int, default=128)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    args = parser.parse_args()

    dtype = getattr(torch, args.dtype)
    if args.tiny:
        pipe = testing.tiny_ltx_pipeline(args.seed)
    else:
        from diffusers import LTXImageToVideoPipeline

        pipe = LTXImageToVideoPipeline.from_pretrained(args.pipeline, local_files_only=True, torch_dtype=dtype)
    pipe = pipe.to(args.device)
    if pipe.transformer.dtype != dtype:
        pipe = pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    conditioning = None
    if args.mode == "cross_attention":
        if args.conditioning is not None:
            conditioning = LTXConditioningAdapter.from_pretrained(args.conditioning).to(args.device, dtype)
        else:
            conditioning = LTXConditioningAdapter.from_transformer(pipe.transformer)
    token_cache = {}
    if args.tokens is not None:
        from safetensors.torch import load_file

        token_cache = load_file(args.tokens)

    images = load_images(args.images, height=args.height, width=args.width)
    args.output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, image in images.items():
        tokens, mask = adapter_tokens_for(name, args, pipe, token_cache)
        for frames in args.frames:
            frames_label = frames if isinstance(frames, str) else "-".join(map(str, frames))
            for strength in args.strengths:
                with ltx_conditioning(
                    pipe.transformer, tokens, conditioning, mask=mask, frames=frames, strength=strength, mode=args.mode
                ):
                    clip = pipe(
                        image=image[None],
                        prompt=args.prompt,
                        height=args.height,
                        width=args.width,
                        num_frames=args.num_frames,
                        num_inference_steps=args.steps,
                        guidance_scale=args.guidance_scale,
                        max_sequence_length=args.max_sequence_length,
                        generator=torch.Generator(args.device).manual_seed(args.seed),
                        output_type="pt",
                    ).frames  # (1, t, c, h, w) in [0, 1]
                clip = clip.float().clamp(0, 1).cpu()
                tc = temporal_consistency(clip).item()
                path = args.output / name / f"{frames_label}_s{strength:g}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_video(clip[0], path, fps=args.fps)
                rows.append(
                    {
                        "image": name,
                        "frames": frames_label,
                        "strength": strength,
                        "temporal_consistency": tc,
                        "clip": str(path),
                    }
                )
                print(f"{name:>12}  frames={frames_label:<8} strength={strength:<5g} tc={tc:.4f}")

    with open(args.output / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("\nmean temporal consistency over images:")
    for frames in dict.fromkeys(row["frames"] for row in rows):
        means = [
            statistics.fmean(r["temporal_consistency"] for r in rows if r["frames"] == frames and r["strength"] == s)
            for s in args.strengths
        ]
        print(f"  frames={frames:<8} " + "  ".join(f"s={s:g}: {m:.4f}" for s, m in zip(args.strengths, means)))
    print(f"wrote {len(rows)} clips and {args.output / 'results.csv'}")


if __name__ == "__main__":
    main()
