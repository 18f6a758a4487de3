"""End-to-end latency and peak memory of ``ForesightPipeline`` at the real sizes, random weights.

Components are built from :mod:`foresight_models.presets` (Qwen2.5-VL-7B, LTX-Video 2B transformer
and VAE, T5-v1.1-XXL) in bf16 with random weights; timing does not depend on weight values. The
tokenizers are the offline ones of :mod:`foresight_models.testing` (their ids are valid for the real
vocabularies; a random-weight VLM never stops early, so every answer is ``--max-new-tokens`` long).

One prediction (one context image, the VLM writes the motion prompt, LTX-Video generates the clip,
the VLM describes it) is timed stage by stage from the events of ``pipe.stream``, run once with the
VLM writing the prompt and once with that prompt given:

- ``prompt_s``: the VLM writes the motion prompt (the difference of the two runs' time to ``Frames``);
- ``video_s``: T5 prompt encoding, denoising and VAE decoding (prompt given: call to ``Frames``);
- ``describe_s``: the VLM answers the question about the predicted clip (``Frames`` to ``Done``);
- ``total_s``: the whole prediction with the VLM writing the prompt.

Baseline in the same run: diffusers' stock ``LTXImageToVideoPipeline`` on the same components, prompt
and seed (``stock_video_s``); ``video_over_stock`` is the pipeline's video stage over it. Peak GPU
memory is measured for the pipeline on the GPU, with ``enable_model_cpu_offload()``, and with VAE
tiling added.
Prints one JSON line.

    python benchmarks/pipeline_latency.py                      # GPU, real sizes, 121x512x704, 50 steps
    python benchmarks/pipeline_latency.py --tiny --steps 2     # CPU smoke check on tiny components
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny offline components (CPU smoke check)")
    parser.add_argument("--height", type=int, default=None, help="default 512 (tiny: 32)")
    parser.add_argument("--width", type=int, default=None, help="default 704 (tiny: 32)")
    parser.add_argument("--frames", type=int, default=None, help="default 121 (tiny: 9)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--no-offload", action="store_true", help="skip the CPU-offload memory measurement")
    return parser.parse_args()


def real_size_pipeline(device: torch.device):
    """``ForesightPipeline`` with real-size random-weight components and offline tokenizers."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from foresight_models import ForesightPipeline, testing
    from foresight_models.presets import build

    dtype = torch.bfloat16
    tokenizer = testing.tiny_qwen2_5_vl_tokenizer()
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(cap_pixels_per_frame=True),
        chat_template=testing.QWEN_CHAT_TEMPLATE,
    )
    vlm = build("qwen2.5-vl-7b", device=device, dtype=dtype)
    # The offline tokenizer numbers Qwen's special tokens differently from the real one.
    for key, token in (
        ("image_token_id", "<|image_pad|>"),
        ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("vision_end_token_id", "<|vision_end|>"),
    ):
        setattr(vlm.config, key, tokenizer.convert_tokens_to_ids(token))
    vlm.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    vlm.generation_config.pad_token_id = tokenizer.pad_token_id
    # The scheduler configuration of Lightricks/LTX-Video.
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )
    pipe = ForesightPipeline(
        transformer=build("ltx-video-2b-transformer", device=device, dtype=dtype),
        vae=build("ltx-video-vae", device=device, dtype=dtype),
        scheduler=scheduler,
        text_encoder=build("t5-v1.1-xxl-encoder", device=device, dtype=dtype),
        tokenizer=testing.tiny_t5_tokenizer(),
        vlm=vlm,
        processor=processor,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def timed_stream(pipe, image, sync, **kwargs) -> dict:
    """Seconds from the call to the ``Frames`` event and to ``Done`` of one streamed prediction."""
    from foresight_models.pipelines.events import Done, Frames

    sync()
    start = time.perf_counter()
    frames_at = None
    for event in pipe.stream(image, **kwargs):
        if isinstance(event, Frames) and frames_at is None:
            frames_at = time.perf_counter()
        elif isinstance(event, Done):
            sync()
            return {"frames_s": frames_at - start, "total_s": time.perf_counter() - start, "output": event.output}
    raise RuntimeError("the stream ended without a Done event")


def main() -> None:
    args = parse_args()
    from diffusers import LTXImageToVideoPipeline

    from foresight_models import testing

    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    height = args.height or (32 if args.tiny else 512)
    width = args.width or (32 if args.tiny else 704)
    frames = args.frames or (9 if args.tiny else 121)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    pipe = testing.tiny_pipeline() if args.tiny else real_size_pipeline(device)
    image = testing.demo_image().resize((width, height))
    video = dict(height=height, width=width, num_frames=frames, guidance_scale=3.0)

    # warm-up: kernels, allocator, tokenizer caches
    pipe(image, prompt="warm up", **{**video, "num_frames": 9}, num_inference_steps=2, max_new_tokens=4, seed=0)

    call = dict(**video, num_inference_steps=args.steps, max_new_tokens=args.max_new_tokens, seed=0)
    written = timed_stream(pipe, image, sync, **call)  # the VLM writes the motion prompt
    prompt = written["output"].prompt
    given = timed_stream(pipe, image, sync, prompt=prompt, **call)  # the same prompt, given
    stages = {
        "prompt_s": written["frames_s"] - given["frames_s"],
        "video_s": given["frames_s"],
        "describe_s": given["total_s"] - given["frames_s"],
        "total_s": written["total_s"],
    }

    stock = LTXImageToVideoPipeline(
        **{name: getattr(pipe, name) for name in ("transformer", "vae", "scheduler", "text_encoder", "tokenizer")}
    )
    stock.set_progress_bar_config(disable=True)
    sync()
    start = time.perf_counter()
    stock(
        image=image,
        prompt=prompt,
        **video,
        num_inference_steps=args.steps,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
    )
    sync()
    stock_video_s = time.perf_counter() - start

    record: dict[str, object] = {
        "benchmark": "pipeline_latency",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "tiny": args.tiny,
        "height": height,
        "width": width,
        "num_frames": frames,
        "steps": args.steps,
        "max_new_tokens": args.max_new_tokens,
        **{key: round(value, 3) for key, value in stages.items()},
        "stock_video_s": round(stock_video_s, 3),
        "video_over_stock": round(stages["video_s"] / stock_video_s, 4),
        "total_over_stock_video": round(stages["total_s"] / stock_video_s, 4),
    }

    if device.type == "cuda":
        short = dict(video, num_inference_steps=2, max_new_tokens=8, seed=0)
        torch.cuda.reset_peak_memory_stats(device)
        pipe(image, **short)
        record["peak_gib_on_gpu"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if not args.no_offload:
            pipe.to("cpu")
            torch.cuda.empty_cache()
            pipe.enable_model_cpu_offload(device=device)
            torch.cuda.reset_peak_memory_stats(device)
            pipe(image, **short)
            record["peak_gib_cpu_offload"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            pipe.enable_vae_tiling()
            torch.cuda.reset_peak_memory_stats(device)
            pipe(image, **short)
            record["peak_gib_cpu_offload_vae_tiling"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    record["torch"] = torch.__version__
    print(json.dumps(record))


if __name__ == "__main__":
    main()
