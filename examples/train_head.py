"""Train a next-frame prediction head on SyntheticMotion and check it against copying the last frame.

The frozen encoder's per-frame tokens are cached once (``cache_features``), then a
``QueryPredictionHead`` learns to predict frame ``t`` from frames ``t - 3 .. t - 1`` (``HeadTask``)
from the cache with the library's ``Trainer``: checkpoints in ``OUTPUT/checkpoints`` (run the same
command again to resume an interrupted run), JSON-lines logs in ``OUTPUT/logs.jsonl`` with the
held-out loss and the copy baseline's every ``--eval-every`` steps, the trained head in
``OUTPUT/final/head``. Held-out clips are then scored against ``CopyLastFrame`` with a paired test.

    python examples/train_head.py                          # 8x8 pixel patches, CPU, under a minute
    python examples/train_head.py --encoder tiny-hybrid    # tiny DINOv2 + Qwen2.5-VL hybrid encoder (random weights)
    python examples/train_head.py --encoder hybrid \\
        --dino facebook/dinov2-large --vlm Qwen/Qwen2.5-VL-7B-Instruct --size 448 --steps 2000   # real checkpoints, GPU

With real checkpoints the head reads the hybrid encoder's fused tokens (an untrained fusion passes
DINOv2's tokens through; pass ``--hybrid FOLDER`` for a trained one). The research found that on real
video latents no head beat copying (cos 0.930 vs 0.975); this script is how to check that claim.
The same run from a config file: ``foresight train --config configs/examples/head.yaml``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from foresight_models.data import SyntheticMotion, collate_clips
from foresight_models.evaluation import compare
from foresight_models.models.heads import QueryPredictionHead
from foresight_models.training import Trainer
from foresight_models.training.cache import CachedFeatures, cache_features
from foresight_models.training.features import HybridEncoderFeatures
from foresight_models.training.specs import DTYPES, LoadOptions, encoder_spec
from foresight_models.training.tasks import HeadTask


def to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}


def encoder_section(args: argparse.Namespace) -> dict:
    """The config's encoder section for the chosen encoder (the same dict works in a YAML config)."""
    if args.encoder == "patches":
        return {"kind": "patches", "patch_size": 8}
    if args.encoder == "tiny-hybrid":
        return {"kind": "hybrid", "dino": "tiny", "vlm": "tiny"}
    if args.hybrid:
        return {"kind": "hybrid", "path": args.hybrid}
    return {"kind": "hybrid", "dino": args.dino, "vlm": args.vlm, "dino_image_size": args.size,
            "qwen_image_size": args.size}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", choices=["patches", "tiny-hybrid", "hybrid"], default="patches")
    parser.add_argument("--dino", default="facebook/dinov2-large", help="DINOv2 checkpoint (--encoder hybrid)")
    parser.add_argument("--vlm", default="Qwen/Qwen2.5-VL-7B-Instruct", help="Qwen2.5-VL checkpoint (--encoder hybrid)")
    parser.add_argument("--hybrid", default=None, help="a saved HybridEncoder folder (--encoder hybrid)")
    parser.add_argument("--local-files-only", action="store_true", help="load checkpoints from the local cache only")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--size", type=int, default=32, help="frame size in pixels (default 32)")
    parser.add_argument("--clips", type=int, default=256, help="training clips (default 256)")
    parser.add_argument("--held-out", type=int, default=96, help="held-out clips (default 96)")
    parser.add_argument("--context-frames", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=100, help="held-out evaluation cadence (steps)")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--output-dir", type=Path, default=Path("runs/train_head"), help="the run folder")
    parser.add_argument("--resume", default="auto", help="auto (continue a run in --output-dir), never, or a checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and args.encoder != "hybrid":
        torch.set_num_threads(1)  # tiny models: more threads only add overhead

    options = LoadOptions(local_files_only=args.local_files_only, dtype=DTYPES.get(args.dtype))
    extractor = encoder_spec(encoder_section(args), "encoder", options)()
    if isinstance(extractor, HybridEncoderFeatures):
        extractor.encoder.to(device)
        dim, grid = extractor.encoder.fusion.config.dim, extractor.encoder.grid
    else:
        dim, grid = extractor.dim, extractor.grid(args.size, args.size)
    torch.manual_seed(args.seed)
    head = QueryPredictionHead(
        dim=dim, hidden_dim=64 if dim <= 192 else 512, depth=1, heads=4, dim_head=16, ff_mult=2.0,
        num_frames=args.context_frames, max_tokens=grid[0] * grid[1], predict_delta=True,
    )  # fmt: skip
    task = HeadTask(head, extractor, context_frames=args.context_frames).to(device)

    frames = args.context_frames + 1
    train_clips = SyntheticMotion(args.clips, frames=frames, size=args.size, seed=args.seed)
    held_out = SyntheticMotion(args.held_out, frames=frames, size=args.size, seed=args.seed + 1000, first_id=10**6)
    root = args.output_dir / "cache"  # finished shards are kept: a second run skips the encoder
    start = time.perf_counter()
    for name, clips in (("train", train_clips), ("held_out", held_out)):
        cache_features(extractor, clips, root / name, batch_size=16, shard_size=128, progress=False)
    print(f"cached features in {time.perf_counter() - start:.1f}s -> {root}")
    train = CachedFeatures(root / "train", encoder=extractor)
    test = CachedFeatures(root / "held_out", encoder=extractor)

    config = {
        "seed": args.seed,
        "output_dir": str(args.output_dir),
        "optim": {"lr": args.lr, "warmup_steps": max(1, args.steps // 20), "max_steps": args.steps,
                  "batch_size": args.batch_size, "mixed_precision": args.mixed_precision, "scheduler": "cosine"},
        "eval": {"every": args.eval_every, "batch_size": 32},
        "checkpoint": {"every": max(1, args.steps // 3), "keep_last": 2},
        "logging": {"every": 50, "progress_bar": False},
    }  # fmt: skip
    result = Trainer(task, train, config, eval_dataset=test).train(resume=args.resume)
    metrics = "  ".join(f"{key} {value:.4g}" for key, value in sorted(result.last_metrics.items()))
    print(f"trained to step {result.step}: {metrics}")
    print(f"logs {result.output_dir / 'logs.jsonl'}, checkpoints {result.output_dir / 'checkpoints'}, "
          f"head {result.final_dir / 'head'}")  # fmt: skip

    task.eval()
    device = next(task.head.parameters()).device
    head_errors, copy_errors, scores = [], [], []
    with torch.no_grad():
        for batch in DataLoader(test, batch_size=32, collate_fn=collate_clips):
            batch = to_device(batch, device)
            context, target = task.context_and_target(batch)
            head_errors.append((task.head(context) - target).float().pow(2).mean(dim=(1, 2)).cpu())
            copy_errors.append((context[:, -1] - target).float().pow(2).mean(dim=(1, 2)).cpu())
            scores.append(task.evaluate(batch))
    result = compare(torch.cat(head_errors), torch.cat(copy_errors))
    print(f"held-out MSE: head {result.mean_a:.5f}  copy {result.mean_b:.5f}  difference {result.mean_diff:+.5f} "
          f"(95% CI {result.ci95[0]:+.5f} .. {result.ci95[1]:+.5f}, paired t-test p={result.p_value:.2g})")  # fmt: skip
    cosine = sum(s["cosine"] for s in scores) / len(scores)
    copy_cosine = sum(s["copy_cosine"] for s in scores) / len(scores)
    print(f"held-out cosine: head {cosine:.4f}  copy {copy_cosine:.4f}")


if __name__ == "__main__":
    main()
