"""Latency of the hybrid encoder (DINOv2-L + fusion + Qwen2.5-VL-7B) over Qwen2.5-VL-7B alone.

Both sides encode the same 8 frames of 448x448 in bf16 with random weights of the real sizes
(``foresight_models.presets.build``; timing does not depend on weight values), including their own
preprocessing on the GPU:

- ``vlm_ms``: Qwen2.5-VL alone, all the Qwen work the encoder does: resize + normalise + patchify,
  vision tower, then the LLM (one sequence for the clip) up to its final norm.
- ``hybrid_ms``: ``HybridEncoder`` forward: the same Qwen work, DINOv2 on the same frames (on a side
  CUDA stream, overlapping Qwen's launch-bound windowed vision attention) and the cross-attention fusion.
- ``hybrid_sequential_ms``: the same with the branches one after the other (``overlap_branches = False``).
- ``dino_ms``, ``fusion_ms``: the two added parts alone; ``vlm_stock_prefill_ms``: the stock
  ``Qwen2_5_VLForConditionalGeneration`` prefill on the same pixels (LM head on the last token only).

``ratio = hybrid_ms / vlm_ms`` and ``overhead_pct = 100 * (ratio - 1)``; the goal is an overhead below 20%.
Prints one JSON line.

    python benchmarks/encoder_latency.py                    # GPU, preset sizes, bf16
    python benchmarks/encoder_latency.py --tiny --iters 3   # CPU smoke check on tiny components
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch

from foresight_models import presets, testing
from foresight_models.models.backbones import normalize, qwen_patchify, resize
from foresight_models.models.fusion import HybridEncoder


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny offline backbones (CPU smoke check)")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument(
        "--dtype", choices=["bf16", "fp16", "fp32"], default=None, help="default: bf16 on cuda, fp32 on cpu"
    )
    parser.add_argument("--dino", default="dinov2-large", help="DINOv2 preset")
    parser.add_argument("--vlm", default="qwen2.5-vl-7b", help="Qwen2.5-VL preset")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument(
        "--size", type=int, default=None, help="side of the frames fed to both backbones (448; tiny: 56)"
    )
    parser.add_argument(
        "--input-size", type=int, default=None, help="side of the input frames (default: --size, no resize)"
    )
    parser.add_argument("--semantic-source", choices=["llm", "vision"], default="llm")
    parser.add_argument("--semantic-layer", type=int, default=-1)
    parser.add_argument("--dim", type=int, default=1024, help="fusion width")
    parser.add_argument("--depth", type=int, default=2, help="fusion blocks")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    return parser.parse_args()


def timer(device: torch.device) -> Callable[[Callable[[], object], int, int], float]:
    """Median wall time in ms of ``fn`` over ``iters`` runs after ``warmup`` runs, synchronising the device."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def measure(fn: Callable[[], object], warmup: int, iters: int) -> float:
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(iters):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)

    return measure


def main() -> None:
    args = parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    size = args.size or (56 if args.tiny else 448)
    input_size = args.input_size or size

    if args.tiny:
        dino, vlm = testing.tiny_dinov2(), testing.tiny_qwen2_5_vl()
        dino, vlm = dino.to(device, dtype), vlm.to(device, dtype)
        fusion_kwargs = {"dim": 32, "depth": args.depth, "heads": 2, "dim_head": 16}
    else:
        dino = presets.build(args.dino, device=device, dtype=dtype)
        vlm = presets.build(args.vlm, device=device, dtype=dtype)
        fusion_kwargs = {"dim": args.dim, "depth": args.depth, "heads": args.dim // 64, "dim_head": 64}
    encoder = HybridEncoder(
        dino=dino,
        vlm=vlm,
        dino_image_size=size,
        qwen_image_size=size,
        semantic_source=args.semantic_source,
        semantic_layer=args.semantic_layer,
        **fusion_kwargs,
    ).to(device, dtype)
    qwen = encoder._qwen_backbone
    cfg = encoder.config

    generator = torch.Generator(device="cpu").manual_seed(0)
    frames = torch.rand(1, args.frames, 3, input_size, input_size, generator=generator).to(device)
    inputs = encoder.preprocess(frames)

    @torch.no_grad()
    def vlm_alone() -> torch.Tensor:
        pixels = normalize(resize(frames.flatten(0, 1), (size, size)), cfg.qwen_mean, cfg.qwen_std)
        rows = qwen_patchify(
            pixels, patch_size=qwen.patch_size, merge_size=qwen.merge_size, temporal_patch_size=qwen.temporal_patch_size
        ).to(qwen.visual.dtype)
        grid = torch.tensor([[1, size // qwen.patch_size, size // qwen.patch_size]], device=device).repeat(
            args.frames, 1
        )
        if args.semantic_source == "vision":
            return qwen.vision_tokens(rows, grid)
        return qwen.llm_tokens(rows, grid, batch=1, frames=args.frames, layer=encoder.fusion.config.semantic_layer)

    @torch.no_grad()
    def hybrid() -> object:
        return encoder(frames)

    @torch.no_grad()
    def dino_alone() -> torch.Tensor:
        return encoder.encode_spatial(encoder.preprocess(frames))

    spatial = encoder.encode_spatial(inputs)
    semantic = encoder.encode_semantic(inputs)

    @torch.no_grad()
    def fusion_alone() -> torch.Tensor:
        return encoder.fusion(spatial, semantic)

    stock_inputs = None
    if qwen.multimodal is not None and hasattr(vlm, "lm_head"):
        config = vlm.config
        m = (size // qwen.patch_size // qwen.merge_size) ** 2
        frame_ids = [config.vision_start_token_id] + [config.image_token_id] * m + [config.vision_end_token_id]
        input_ids = torch.tensor([frame_ids * args.frames], device=device)
        stock_inputs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "mm_token_type_ids": (input_ids == config.image_token_id).int(),
            "pixel_values": inputs.qwen_pixel_values,
            "image_grid_thw": inputs.qwen_grid_thw,
        }

    @torch.no_grad()
    def stock_prefill() -> object:
        return vlm(**stock_inputs, use_cache=False, logits_to_keep=1)

    measure = timer(device)
    results: dict[str, object] = {}
    # Interleave the two sides round by round so that clock or thermal drift hits both alike.
    vlm_times, hybrid_times = [], []
    for _ in range(max(1, args.iters // 5)):
        vlm_times.append(measure(vlm_alone, args.warmup, 5))
        hybrid_times.append(measure(hybrid, args.warmup, 5))
    results["vlm_ms"] = statistics.median(vlm_times)
    results["hybrid_ms"] = statistics.median(hybrid_times)
    encoder.overlap_branches = False
    results["hybrid_sequential_ms"] = measure(hybrid, args.warmup, args.iters)
    encoder.overlap_branches = True
    results["dino_ms"] = measure(dino_alone, args.warmup, args.iters)
    results["fusion_ms"] = measure(fusion_alone, args.warmup, args.iters)
    if stock_inputs is not None:
        results["vlm_stock_prefill_ms"] = measure(stock_prefill, args.warmup, args.iters)
    ratio = results["hybrid_ms"] / results["vlm_ms"]

    record = {
        "benchmark": "encoder_latency",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "tiny": args.tiny,
        "dtype": dtype_name,
        "frames": args.frames,
        "size": size,
        "input_size": input_size,
        "dino": "tiny" if args.tiny else args.dino,
        "vlm": "tiny" if args.tiny else args.vlm,
        "semantic_source": args.semantic_source,
        "semantic_layer": encoder.fusion.config.semantic_layer,
        "fusion_parameters": sum(p.numel() for p in encoder.fusion.parameters()),
        "attn_implementation": getattr(getattr(dino, "config", None), "_attn_implementation", None),
        **{k: round(v, 3) for k, v in results.items()},
        "ratio": round(ratio, 4),
        "overhead_pct": round(100 * (ratio - 1), 2),
        "torch": torch.__version__,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
