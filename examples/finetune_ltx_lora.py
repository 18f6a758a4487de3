"""Fine-tune LTX-Video with a LoRA on a folder of action clips, then predict with it through ForesightPipeline.

The run goes through the library's training loop (``foresight_models.training.train``): the same
``task`` / ``data`` / ``optim`` sections as ``configs/examples/ltx_lora.yaml``, checkpoints and resume
in ``OUTPUT/checkpoints`` (run the command again to continue an interrupted run), JSON-lines logs in
``OUTPUT/logs.jsonl`` and the LoRA in ``OUTPUT/final``.

Offline, on tiny random-weight components and synthetic clips written as a Something-Something v2
folder (well under a minute on a CPU; the video is meaningless, every step is real)::

    python examples/finetune_ltx_lora.py --output /tmp/ltx-lora

With real weights (LTX-Video in diffusers format, downloaded or in a local folder) on a real SSv2
folder, on a GPU (the loop uses it when there is one)::

    python examples/finetune_ltx_lora.py --ssv2 /data/ssv2 --model Lightricks/LTX-Video \\
        --vlm Qwen/Qwen2.5-VL-7B-Instruct --height 480 --width 704 --frames 97 --rank 64 --steps 2000 \\
        --lr 1e-4 --gradient-checkpointing --dtype bfloat16 --output runs/ltx-lora

Writes the LoRA to ``OUTPUT/final`` (``pytorch_lora_weights.safetensors``, loadable with
``LTXImageToVideoPipeline.load_lora_weights``) and the predicted clip to ``OUTPUT/prediction.mp4``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from foresight_models import ForesightPipeline, SyntheticMotion, testing
from foresight_models.data.video import write_video
from foresight_models.training import build_dataset, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ssv2", type=Path, default=None, help="SSv2 folder (default: write synthetic clips)")
    parser.add_argument("--model", default="tiny", help="LTX-Video diffusers id or folder (default: tiny)")
    parser.add_argument("--vlm", default="tiny", help="Qwen2.5-VL id or folder, 'tiny' or 'none'")
    parser.add_argument("--clips", type=int, default=8, help="synthetic clips to write")
    parser.add_argument("--frames", type=int, default=9, help="frames per clip, 8k + 1 (4k + 1 for the tiny VAE)")
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--inference-steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", default="auto", help="auto (continue a run in --output), never, or a checkpoint")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--output", type=Path, default=Path("outputs/finetune_ltx_lora"))
    args = parser.parse_args()
    tiny = args.model == "tiny"
    if tiny:
        torch.set_num_threads(1)  # tiny models gain nothing from more threads
    torch.manual_seed(args.seed)

    # 1. a folder of action clips
    root = args.ssv2
    if root is None:
        root = args.output / "clips"
        synthetic = SyntheticMotion(
            num_clips=args.clips, frames=args.frames, size=(args.height, args.width), seed=args.seed
        )
        synthetic.write_ssv2(root, options={"deadline": "realtime", "cpu-used": "8"})
    data = {"kind": "ssv2", "root": str(root), "split": "train", "context_frames": 1,
            "future_frames": args.frames - 1, "size": [args.height, args.width], "window": "start"}  # fmt: skip

    # 2. LoRA training through the library's loop (prompts: T5 on each clip's label)
    config = {
        "seed": args.seed,
        "output_dir": str(args.output),
        "task": {
            "name": "ltx",
            "model": args.model,
            "target": "lora",
            "prompt": "label",
            "lora": {"rank": args.rank, "alpha": args.rank},
            "gradient_checkpointing": args.gradient_checkpointing,
            "dtype": args.dtype,
            "seed": args.seed,
        },
        "data": data,
        "optim": {"lr": args.lr, "max_steps": args.steps, "batch_size": args.batch_size, "scheduler": "constant"},
        "checkpoint": {"every": max(1, args.steps // 2), "keep_last": 2},
        "logging": {"every": 10, "progress_bar": False},
    }
    result = train(config, resume=args.resume)
    lora_dir = result.final_dir
    print(f"trained to step {result.step} (loss {result.last_metrics['loss']:.4f}); LoRA written to {lora_dir}")

    # 3. the stock LTX image-to-video pipeline with the LoRA, inside ForesightPipeline
    dtype = getattr(torch, args.dtype)
    if tiny:
        from diffusers import LTXImageToVideoPipeline

        components = testing.tiny_ltx_components(args.seed)
        components["transformer"] = testing.tiny_ltx_transformer(args.seed, num_layers=2)  # the task's base model
        ltx = LTXImageToVideoPipeline(**components)
    else:
        from diffusers import LTXImageToVideoPipeline

        ltx = LTXImageToVideoPipeline.from_pretrained(args.model, torch_dtype=dtype)
    ltx.load_lora_weights(lora_dir, adapter_name="actions")
    if args.vlm == "tiny":
        vlm = {"vlm": testing.tiny_qwen2_5_vl(args.seed), "processor": testing.tiny_qwen2_5_vl_processor()}
    else:
        vlm = {"vlm": None if args.vlm == "none" else args.vlm}
    pipe = ForesightPipeline.from_components(video_model=ltx, torch_dtype=dtype, **vlm)
    pipe.to("cuda" if torch.cuda.is_available() else "cpu")
    pipe.set_progress_bar_config(disable=True)

    held_out = build_dataset(data)[0]
    image = held_out["frames"][0]  # (3, h, w) uint8: the clip's first frame
    output = pipe(
        image,
        prompt=held_out["label"],
        height=args.height,
        width=args.width,
        num_frames=args.frames,
        num_inference_steps=args.inference_steps,
        max_new_tokens=16 if args.vlm == "tiny" else 128,
        seed=args.seed,
        output_type="pt",
    )
    video = output.frames[0] if isinstance(output.frames, list) else output.frames[0]
    path = args.output / "prediction.mp4"
    write_video(video.float().clamp(0, 1).cpu(), path, fps=12)
    print(f"prompt: {held_out['label']!r}")
    print(f"description: {output.description!r}")
    print(f"prediction written to {path}")


if __name__ == "__main__":
    main()
