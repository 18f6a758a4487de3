"""Does a predictor beat copying the last frame? Evaluate the baselines on moving-shape clips.

Runs offline in a few seconds: synthetic clips, the copy / linear-extrapolation baselines and a
"damped" predictor (half the extrapolated motion), compared against copy with paired tests.

    python examples/evaluate_copy_baseline.py [--out eval_report]
"""

from __future__ import annotations

import argparse
import functools

import torch

from foresight_models import Metric, SyntheticMotion, evaluate
from foresight_models.metrics import psnr


class DampedExtrapolation(torch.nn.Module):
    """Extrapolate the last frame-to-frame change at half speed: ``x[t-1] + horizon * 0.5 * (x[t-1] - x[t-2])``."""

    def forward(self, context: torch.Tensor, mask: torch.Tensor | None = None, *, horizon: int = 1) -> torch.Tensor:
        last, previous = context[:, -1], context[:, -2]
        return (last + 0.5 * horizon * (last - previous)).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for report.json, report.md and horizons.png")
    args = parser.parse_args()

    dataset = SyntheticMotion(24, frames=8, size=32, seed=0)  # uint8 clips (8, 3, 32, 32) with SSv2-style labels
    # PSNR is inf where a prediction is exact (copying a still frame); capping it at 100 dB, explicitly,
    # keeps means and paired tests defined.
    capped_psnr = Metric("psnr", functools.partial(psnr, max_db=100.0), higher_is_better=True)
    report = evaluate(
        {"damped": DampedExtrapolation()},
        dataset,
        metrics=("pixel_l1", capped_psnr, "ssim", "temporal_ratio"),
        context_frames=4,  # 4 frames seen, 4 frames to predict
    )
    print(report)
    for name in report.predictors:
        curve = ", ".join(f"{v:.4f}" for v in report.horizon_curve(name, "pixel_l1").tolist())
        print(f"pixel L1 by horizon, {name:<11}: {curve}")
    if args.out:
        for kind, path in report.save(args.out).items():
            print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
