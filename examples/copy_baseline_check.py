"""Does a trained prediction head beat copying the last frame? A check on synthetic tokens, in seconds on CPU.

Each clip holds ``objects`` tokens; every object moves at its own constant velocity and its token is a
fixed projection of Fourier features of its position plus a per-clip colour, so the future is fully
determined by the past but differs from the last frame. A tiny ``QueryPredictionHead`` is trained on
these clips and compared on held-out clips with ``CopyLastFrame`` and ``LinearExtrapolation``.

    python examples/copy_baseline_check.py               # predict_delta=True: beats copy
    python examples/copy_baseline_check.py --no-delta    # absolute prediction: needs far more steps

On real Qwen2.5-VL latents of Something-Something v2 no head beat copy (see ``docs/research.md``).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from foresight_models.models.heads import CopyLastFrame, LinearExtrapolation, QueryPredictionHead
from foresight_models.models.losses import mse_loss
from foresight_models.testing import constant_velocity_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--context-frames", type=int, default=2, help="frames the head sees (default 2)")
    parser.add_argument("--no-delta", action="store_true", help="predict absolute tokens, not the change")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny model: threads only add overhead

    generator = torch.Generator().manual_seed(args.seed)
    frames = args.context_frames + 1
    train = constant_velocity_tokens(4096, frames=frames, objects=4, dim=16, generator=generator)
    held_out = constant_velocity_tokens(512, frames=frames, objects=4, dim=16, generator=generator)

    torch.manual_seed(args.seed)
    head = QueryPredictionHead(
        dim=16,
        hidden_dim=32,
        depth=1,
        heads=4,
        dim_head=8,
        ff_mult=2.0,
        num_frames=args.context_frames,
        max_tokens=4,
        predict_delta=not args.no_delta,
    )
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=args.steps, pct_start=0.1)
    start = time.perf_counter()
    for _ in range(args.steps):
        clip = train[torch.randint(0, len(train), (64,), generator=generator)]
        loss = mse_loss(head(clip[:, :-1]), clip[:, -1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start

    context, future = held_out[:, :-1], held_out[:, -1]
    with torch.no_grad():
        scores = {
            name: F.cosine_similarity(predictor(context), future, dim=-1).mean(-1)  # per clip
            for name, predictor in (
                ("model", head.eval()),
                ("copy", CopyLastFrame()),
                ("linear", LinearExtrapolation()),
            )
            if name != "linear" or context.shape[1] >= 2
        }
    print(f"trained {args.steps} steps in {seconds:.1f}s (predict_delta={not args.no_delta})")
    for name, cos in scores.items():
        print(f"  {name:<7} cosine {cos.mean():.4f}")
    gain = scores["model"] - scores["copy"]
    print(f"model - copy: {gain.mean():+.4f}; model wins on {(gain > 0).float().mean():.0%} of {len(gain)} clips")


if __name__ == "__main__":
    main()
