"""Encode images and a clip with the hybrid encoder (DINOv2 spatial tokens + Qwen2.5-VL semantics).

Runs offline in a few seconds on the tiny components of ``foresight_models.testing``:

    python examples/encode_images.py

With real checkpoints (downloaded beforehand, or local folders):

    python examples/encode_images.py --dino facebook/dinov2-large --vlm Qwen/Qwen2.5-VL-7B-Instruct --size 448
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
from PIL import Image

from foresight_models import HybridEncoder, testing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dino", default=None, help="DINOv2 hub id or folder (default: tiny offline model)")
    parser.add_argument("--vlm", default=None, help="Qwen2.5-VL hub id or folder (default: tiny offline model)")
    parser.add_argument("--size", type=int, default=56, help="frame side for both backbones (multiple of 28)")
    args = parser.parse_args()

    if args.dino and args.vlm:
        from transformers import AutoModel, Qwen2_5_VLForConditionalGeneration

        dino = AutoModel.from_pretrained(args.dino)
        vlm = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.vlm)
        fusion = {}
    else:
        dino, vlm = testing.tiny_dinov2(), testing.tiny_qwen2_5_vl()
        fusion = {"dim": 64, "depth": 1, "heads": 4, "dim_head": 16}
    encoder = HybridEncoder(dino=dino, vlm=vlm, dino_image_size=args.size, qwen_image_size=args.size, **fusion)

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    out = encoder(image)
    print(
        f"one image: fused {tuple(out.fused_tokens.shape)} on grid {out.grid}, "
        f"spatial {tuple(out.spatial_tokens.shape)}, semantic {tuple(out.semantic_tokens.shape)} "
        f"on grid {out.semantic_grid}"
    )

    clip = torch.rand(2, 4, 3, 120, 160)  # (b, t, c, h, w), float in [0, 1]
    out = encoder(clip)
    print(f"two 4-frame clips: fused {tuple(out.fused_tokens.shape)}")
    untrained = torch.equal(out.fused_tokens, encoder.fusion.proj_in(out.spatial_tokens))
    print(f"untrained fusion = projected DINOv2 tokens (zero gates): {untrained}")

    with tempfile.TemporaryDirectory() as folder:
        encoder.save_pretrained(folder)
        reloaded = HybridEncoder.from_pretrained(folder, dino=dino, vlm=vlm)  # backbones are shared, not copied
        same = torch.equal(reloaded(clip).fused_tokens, out.fused_tokens)
        print(f"saved fusion only and reloaded with the same backbones: identical outputs {same}")


if __name__ == "__main__":
    main()
