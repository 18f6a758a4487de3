"""LTX-Video flow-matching training throughput and peak memory: LoRA vs adapter-only, +/- gradient checkpointing.

The transformer is LTX-Video 2B with random weights of the real size (``foresight_models.presets``;
speed and memory do not depend on weight values), in bfloat16 on one GPU. Batches hold what a
feature cache holds for 97x480x704 clips: normalised latents generated directly at latent size
(128 x 13 x 15 x 22 = 4290 tokens; no VAE), 128 T5 prompt tokens of width 4096 and, for the
adapter, ``--adapter-tokens`` encoder tokens of width 3584 (Qwen2.5-VL-7B) into a ~10M-parameter
query adapter. Each row trains ``LTXFlowMatchingTask`` with AdamW for ``--warmup`` + ``--steps``
steps on a freshly built transformer and reports samples/s over the timed steps and the peak CUDA
memory. Prints one JSON object.

    python benchmarks/ltx_training.py                             # GPU, bf16
    python benchmarks/ltx_training.py --tiny --steps 2            # CPU smoke check
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from foresight_models import presets, testing
from foresight_models.models.adapters import QueryAdapter, build_adapter
from foresight_models.training.ltx import LTXFlowMatchingTask


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny transformer on CPU (smoke check)")
    parser.add_argument("--frames", type=int, default=97, help="pixel frames (8k + 1)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=704)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--lora-rank", type=int, default=64)
    parser.add_argument("--adapter-tokens", type=int, default=256, help="encoder tokens into the adapter")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    return parser.parse_args(argv)


def make_batch(args, *, device, dtype, channels, caption_channels, token_width, spatial, temporal) -> dict:
    f = (args.frames - 1) // temporal + 1
    h, w = args.height // spatial, args.width // spatial
    b = args.batch_size
    return {
        "latents": torch.randn(b, channels, f, h, w, device=device, dtype=dtype),
        "prompt_embeds": torch.randn(b, 128, caption_channels, device=device, dtype=dtype),
        "prompt_attention_mask": torch.ones(b, 128, device=device, dtype=torch.long),
        "tokens": torch.randn(b, args.adapter_tokens, token_width, device=device, dtype=dtype),
    }


def run_row(args, *, target: str, checkpointing: bool, device, dtype) -> dict:
    if args.tiny:
        transformer = testing.tiny_ltx_transformer(0, num_layers=2)
        scheduler = testing.tiny_ltx_scheduler()
        spatial, temporal, token_width = 4, 4, 32
        adapter = QueryAdapter(d_in=token_width, d_out=32, num_tokens=4, dim=32, depth=1, heads=4, dim_head=8)
    else:
        transformer = presets.build("ltx-video-2b-transformer", device=device, dtype=dtype)
        scheduler = FlowMatchEulerDiscreteScheduler(**presets.LTX_VIDEO_SCHEDULER_CONFIG)
        spatial, temporal, token_width = 32, 8, 3584
        adapter = build_adapter("query", d_in=token_width, d_out=4096, num_tokens=32, target_params=10_000_000)
    config = transformer.config
    task = LTXFlowMatchingTask(
        transformer=transformer,
        vae=None,
        scheduler=scheduler,
        target=target,
        prompt="cached",
        adapter=adapter.to(device) if target == "adapter" else None,
        lora_rank=args.lora_rank if not args.tiny else 4,
        gradient_checkpointing=checkpointing,
        spatial_compression_ratio=spatial,
        temporal_compression_ratio=temporal,
    ).to(device)
    batch = make_batch(
        args,
        device=device,
        dtype=dtype,
        channels=config.in_channels,
        caption_channels=config.caption_channels,
        token_width=token_width,
        spatial=spatial,
        temporal=temporal,
    )
    parameters = list(task.trainable_parameters())
    optimizer = torch.optim.AdamW(parameters, lr=1e-5)
    task.train()

    def step() -> float:
        loss = task.loss(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    row = {
        "target": target,
        "gradient_checkpointing": checkpointing,
        "trainable_parameters": sum(p.numel() for p in parameters),
        "samples_per_s": args.steps * args.batch_size / elapsed,
        "step_ms": 1000 * elapsed / args.steps,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        "final_loss": loss,
    }
    return row


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        args.frames, args.height, args.width, args.adapter_tokens = 9, 32, 32, 8
    else:
        if not torch.cuda.is_available():
            raise SystemExit("this benchmark needs a CUDA GPU (or --tiny for a CPU smoke check)")
        device, dtype = torch.device("cuda"), torch.bfloat16
    torch.manual_seed(0)
    rows = []
    for target in ("lora", "adapter"):
        for checkpointing in (False, True):
            rows.append(run_row(args, target=target, checkpointing=checkpointing, device=device, dtype=dtype))
            free_memory(device)
    result = {
        "benchmark": "ltx_training",
        "model": "tiny" if args.tiny else "ltx-video-2b-transformer (random weights)",
        "dtype": str(dtype).removeprefix("torch."),
        "clip": f"{args.frames}x{args.height}x{args.width}",
        "batch_size": args.batch_size,
        "lora_rank": args.lora_rank if not args.tiny else 4,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "rows": rows,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
