"""Train a next-frame prediction head on SyntheticMotion and check it against copying the last frame.

The frozen encoder's per-frame tokens are cached once (``cache_features``), then a
``QueryPredictionHead`` learns to predict frame ``t`` from frames ``t - 3 .. t - 1`` (``HeadTask``)
from the cache. Held-out clips are scored against ``CopyLastFrame`` with a paired test.

    python examples/train_head.py                          # 8x8 pixel patches, CPU, well under a minute
    python examples/train_head.py --encoder tiny-hybrid    # tiny DINOv2 + Qwen2.5-VL hybrid encoder (random weights)
    python examples/train_head.py --encoder hybrid \\
        --dino facebook/dinov2-large --vlm Qwen/Qwen2.5-VL-7B-Instruct --size 448 --steps 2000   # real checkpoints, GPU

With real checkpoints the head reads the hybrid encoder's fused tokens (an untrained fusion passes
DINOv2's tokens through; pass ``--hybrid FOLDER`` for a trained one). The research found that on real
video latents no head beat copying (cos 0.930 vs 0.975); this script is how to check that claim.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from foresight_models.data import SyntheticMotion, collate_clips
from foresight_models.evaluation import compare
from foresight_models.models.heads import QueryPredictionHead
from foresight_models.training.cache import CachedFeatures, cache_features
from foresight_models.training.features import HybridEncoderFeatures
from foresight_models.training.specs import DTYPES, LoadOptions, encoder_spec
from foresight_models.training.tasks import HeadTask


def training_step(task, batch, optimizer, scheduler, *, max_grad_norm: float = 1.0) -> float:
    """One optimisation step of ``task`` on ``batch``; returns the loss."""
    loss = task.loss(batch)["loss"]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(task.trainable_parameters()), max_grad_norm)
    optimizer.step()
    scheduler.step()
    return loss.item()


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
    parser.add_argument("--cache", default=None, help="feature cache folder (default: a temporary one)")
    parser.add_argument("--out", default=None, help="save the trained head here")
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
    root = Path(args.cache or tempfile.mkdtemp(prefix="foresight-head-cache-"))
    start = time.perf_counter()
    for name, clips in (("train", train_clips), ("held_out", held_out)):
        cache_features(extractor, clips, root / name, batch_size=16, shard_size=128, progress=False)
    print(f"cached features in {time.perf_counter() - start:.1f}s -> {root}")
    train = CachedFeatures(root / "train", encoder=extractor)
    test = CachedFeatures(root / "held_out", encoder=extractor)

    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=collate_clips, generator=generator)
    step, start = 0, time.perf_counter()
    task.train()
    while step < args.steps:
        for batch in loader:
            loss = training_step(task, batch, optimizer, scheduler)
            step += 1
            if step % 50 == 0 or step == args.steps:
                print(f"step {step:5d}  loss {loss:.5f}  ({step / (time.perf_counter() - start):.1f} steps/s)")
            if step == args.steps:
                break

    task.eval()
    head_errors, copy_errors, scores = [], [], []
    with torch.no_grad():
        for batch in DataLoader(test, batch_size=32, collate_fn=collate_clips):
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
    if args.out:
        task.save_pretrained(args.out)
        print(f"saved {args.out}/head")


if __name__ == "__main__":
    main()
