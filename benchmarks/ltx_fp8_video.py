"""The video stage with float8: stock LTX image-to-video, eager vs compiled bf16 vs compiled float8.

diffusers' ``LTXImageToVideoPipeline`` on real-size random-weight components (LTX-Video 2B
transformer and VAE, T5-v1.1-XXL; ``foresight_models.presets``), bf16 on one CUDA device: one
121-frame 512x704 clip from the demo image, 20 guided steps (guidance 3.0), the same prompt and seed
every time, frames returned as tensors. Three ways, one after the other on the same components:

- ``eager_bf16``: the stock pipeline;
- ``compiled_bf16``: the transformer's repeated block compiled (the fast path's ``transformer_compile``);
- ``compiled_fp8``: the same after :func:`~foresight_models.pipelines.fast_path.float8_transformer_blocks`
  (the fast path's ``fp8``: torchao float8, dynamic row-wise scales, in the blocks' linear layers).

Each time is the second of two calls (``first_s``: the first, compilation included); PSNR in dB of
the frames against the eager ones and the compiled bf16 ones (the issue's bound for float8: 30 dB).
Writes ``--out`` (JSON, after every way) and prints it.

    python benchmarks/ltx_fp8_video.py --out outputs/ltx_fp8_video.json     # needs CUDA and torchao
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_e2e import psnr  # noqa: E402


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("ltx_fp8_video.py needs a CUDA device")
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXImageToVideoPipeline

    from foresight_models import testing
    from foresight_models.pipelines.fast_path import float8_transformer_blocks
    from foresight_models.presets import LTX_VIDEO_SCHEDULER_CONFIG, build

    device, dtype = torch.device("cuda"), torch.bfloat16
    pipe = LTXImageToVideoPipeline(
        transformer=build("ltx-video-2b-transformer", device=device, dtype=dtype),
        vae=build("ltx-video-vae", device=device, dtype=dtype),
        scheduler=FlowMatchEulerDiscreteScheduler(**LTX_VIDEO_SCHEDULER_CONFIG),
        text_encoder=build("t5-v1.1-xxl-encoder", device=device, dtype=dtype),
        tokenizer=testing.tiny_t5_tokenizer(),
    )
    pipe.set_progress_bar_config(disable=True)
    image = testing.demo_image().resize((704, 512))
    results: dict = {"card": torch.cuda.get_device_name(device), "torch": torch.__version__, "steps": args.steps}

    def write() -> None:
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)
        print(json.dumps(results), flush=True)

    def call() -> tuple[torch.Tensor, float]:
        torch.cuda.synchronize()
        start = time.perf_counter()
        frames = pipe(
            image=image,
            prompt="a red ball rolls to the right",
            height=512,
            width=704,
            num_frames=121,
            num_inference_steps=args.steps,
            guidance_scale=3.0,
            decode_timestep=0.05,
            decode_noise_scale=None,
            max_sequence_length=128,
            generator=torch.Generator().manual_seed(0),
            output_type="pt",
        ).frames
        torch.cuda.synchronize()
        return frames.float().cpu(), time.perf_counter() - start

    def twice() -> tuple[torch.Tensor, float, float]:
        _, first = call()
        frames, seconds = call()
        return frames, round(seconds, 3), round(first, 1)

    eager, seconds, first = twice()
    results["eager_bf16"] = {"s": seconds, "first_s": first}
    write()
    pipe.transformer.compile_repeated_blocks(fullgraph=True)
    compiled, seconds, first = twice()
    results["compiled_bf16"] = {"s": seconds, "first_s": first, "psnr_vs_eager": round(psnr(compiled, eager), 2)}
    write()
    for block in pipe.transformer.transformer_blocks:
        block._compiled_call_impl = None
    torch._dynamo.reset()
    float8_transformer_blocks(pipe.transformer)
    pipe.transformer.compile_repeated_blocks(fullgraph=True)
    fp8, seconds, first = twice()
    results["compiled_fp8"] = {
        "s": seconds,
        "first_s": first,
        "psnr_vs_eager": round(psnr(fp8, eager), 2),
        "psnr_vs_compiled_bf16": round(psnr(fp8, compiled), 2),
    }
    write()
    return results


if __name__ == "__main__":
    main()
