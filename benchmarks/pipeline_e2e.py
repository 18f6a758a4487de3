"""End to end: the stock stack by hand, ``ForesightPipeline`` by default, and its fast path, in one run.

One prediction is: from one context image the VLM writes the motion prompt, LTX-Video generates the
clip from that image and prompt, the VLM describes the clip. It is done three ways ("ways") in one
process on one device, from the same component objects, the same image and the same seed:

- ``stock``: what a user writes by hand: transformers' ``generate`` on Qwen2.5-VL with the pipeline's
  motion-prompt chat content, diffusers' ``LTXImageToVideoPipeline`` on the same components, then
  ``generate`` describing the clip (the same frame sampling and PIL conversion as the pipeline);
- ``default``: ``ForesightPipeline.__call__`` as shipped;
- ``fast``: ``ForesightPipeline`` after ``pipe.enable_fast_path(...)`` with the pieces of
  ``--fast-pieces``; a way ``fast:static_cache+compile_vlm`` names its own pieces (ablation).

Extra ways: ``--fp8`` adds ``fp8`` (the fast way's pieces plus ``fp8``: torchao float8 linear layers in
the LTX transformer's blocks; its ``fast_path`` status says why when it is off) and
``--offload group|model`` adds ``offload_group`` / ``offload_model`` (the default path with
``pipe.enable_group_offload`` / ``enable_model_cpu_offload``), run last.

Every figure is timed directly, ``torch.cuda.synchronize`` before and after (on CUDA), on a call made
after one warm-up call with exactly the same arguments; with ``--repeats N`` each figure is the median
of ``N`` such calls (medians need not add up exactly), and ``total_range_s`` gives the fastest and
slowest of their totals (one call's figures move by a few percent from run to run, more than the 2% a
default-path goal asks about), and ``calls_s`` each call's figures. With ``--repeats N`` and both
``stock`` and ``default`` among the ways, their calls are timed in turn (stock, default, stock, ...),
so that drift during the run reaches both alike:

- ``prompt_s``: the VLM writes the motion prompt: chat template, image preprocessing, ``generate``,
  decoding (``ForesightPipeline``: its ``_write_motion_prompt``);
- ``video_s``: LTX-Video: T5 prompt encoding, the image's VAE encoding, ``--steps`` guided denoising
  steps, VAE decoding to a float tensor (``ForesightPipeline``: its ``_generate_video``, which runs the
  same diffusers pipeline plus a finite-value check and a progress event per step);
- ``describe_s``: the VLM describes the clip: 8 frames sampled, to PIL, preprocessing, ``generate``,
  decoding (``ForesightPipeline``: its ``_describe_and_rate``);
- ``other_s``: the rest of the call (argument checks, memory estimate, ranking);
- ``total_s``: the whole prediction; ``over_stock``: ``total_s`` over the stock way's;
- ``first_call_s``: the warm-up call (same arguments), and ``compile_s`` = ``first_call_s - total_s``:
  compilation (fast path) plus first-call costs (kernel selection, allocator growth); compiled code
  stays cached in the process, so a later fast way that compiles the same code shows less of it;
- ``peak_gib``: ``torch.cuda.max_memory_allocated``, reset when the way starts (weights included; an
  ``offload_*`` way resets it once its components are offloaded, so only what it brings back counts);
- ``vlm``: the VLM alone on the motion-prompt input (already on the device): ``prefill_s`` is
  ``generate`` with 1 new token, ``generate_s`` with ``--new-tokens`` new tokens (``min_new_tokens``
  forces the count), ``decode_ms_per_token`` = ``(generate_s - prefill_s) / (new_tokens - 1)``;
- ``continuations``: the same call with ``--continuations`` futures (``rate=False``: one description
  each) over one (``rate=False`` too): ``ratio`` = time of n / time of one.

Checks (the process exits with status 1 after writing its results when one fails):
``default_equals_stock``: same seed, same prompt, the frames are equal (max abs diff at most
``--frames-atol``; ``bit_identical`` says whether they are bit for bit); ``fast_psnr_db``: the fast
path's frames, with the default's prompt given, are at least ``--psnr-min`` dB PSNR from the default's.

Components: ``--preset real``: real-architecture sizes with random weights (Qwen2.5-VL-7B, LTX-Video 2B
transformer and VAE, T5-v1.1-XXL, from :mod:`foresight_models.presets`), bf16 on CUDA, offline
tokenizers (a random-weight VLM never stops early, so every answer is ``--new-tokens`` long);
``--preset tiny``: the tiny test components, float32, on the CPU (a smoke run of every code path).

Writes ``--out`` (JSON) and prints a markdown table for ``benchmarks/RESULTS.md``.

    python benchmarks/pipeline_e2e.py --preset real --out outputs/pipeline_e2e.json     # one H200, ~20 steps
    python benchmarks/pipeline_e2e.py --preset tiny --out /tmp/e2e.json                 # CPU smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch

WAYS = ("stock", "default", "fast")
STAGES = ("prompt", "video", "describe")
#: The pieces a fast way can name; ``attention_backend`` comes from ``--attention-backend``.
FAST_PIECES = ("static_cache", "compile_vlm", "compile_transformer", "fuse_qkv", "batched_answers", "device_inputs", "fp8")
#: The pieces of the ``fast`` way unless ``--fast-pieces`` says otherwise (``fp8`` is opt-in, as in the library).
DEFAULT_FAST_PIECES = tuple(piece for piece in FAST_PIECES if piece != "fp8")
#: ForesightPipeline's stage methods, timed by wrapping them on the instance.
PIPELINE_STAGES = {"prompt": "_write_motion_prompt", "video": "_generate_video", "describe": "_describe_and_rate"}
REAL = {"height": 512, "width": 704, "num_frames": 121, "steps": 20, "new_tokens": 64}
TINY = {"height": 32, "width": 32, "num_frames": 9, "steps": 2, "new_tokens": 8}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("real", "tiny"), default="real")
    parser.add_argument("--height", type=int, help=f"default {REAL['height']} (tiny {TINY['height']})")
    parser.add_argument("--width", type=int, help=f"default {REAL['width']} (tiny {TINY['width']})")
    parser.add_argument("--num-frames", type=int, help=f"default {REAL['num_frames']} (tiny {TINY['num_frames']})")
    parser.add_argument("--steps", type=int, help=f"denoising steps, default {REAL['steps']} (tiny {TINY['steps']})")
    parser.add_argument(
        "--new-tokens",
        type=int,
        help=f"VLM tokens per answer, default {REAL['new_tokens']} (tiny {TINY['new_tokens']})",
    )
    parser.add_argument(
        "--ways", default=",".join(WAYS), help="comma-separated: stock, default, fast, fast:<piece>+<piece>"
    )
    parser.add_argument(
        "--fast-pieces",
        default=",".join(DEFAULT_FAST_PIECES),
        help=f"pieces of the 'fast' way, from {', '.join(FAST_PIECES)}",
    )
    parser.add_argument(
        "--attention-backend",
        default=None,
        help="diffusers attention backend for the fast ways (default: PyTorch's choice)",
    )
    parser.add_argument("--no-fullgraph", action="store_true", help="compile the LTX blocks allowing graph breaks")
    parser.add_argument(
        "--vlm-cache-length",
        type=int,
        default=4096,
        help="static cache positions of the fast ways (0: each answer's own)",
    )
    parser.add_argument(
        "--continuations", type=int, default=4, help="futures of the n-vs-one measurement (0 or 1: skip it)"
    )
    parser.add_argument(
        "--offload", choices=("none", "group", "model"), default="none", help="add an offloaded default way, run last"
    )
    parser.add_argument(
        "--offload-type",
        choices=("block_level", "leaf_level"),
        default="block_level",
        help="the LTX transformer's groups",
    )
    parser.add_argument(
        "--offload-stream", action="store_true", help="group offloading overlaps transfers on a CUDA stream"
    )
    parser.add_argument("--vae-tiling", action="store_true", help="decode the video in tiles in every way")
    parser.add_argument(
        "--fp8",
        action="store_true",
        help="add the 'fp8' way: the fast way's pieces and torchao float8 in the LTX blocks",
    )
    parser.add_argument(
        "--psnr-min", type=float, default=30.0, help="the fast path's frames must be this close to the default's (dB)"
    )
    parser.add_argument(
        "--frames-atol", type=float, default=1e-3, help="largest allowed |stock - default| frame difference"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed calls per way after the warm-up; figures are their medians"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    sizes = TINY if args.preset == "tiny" else REAL
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.repeats < 1:
        parser.error(f"--repeats: at least 1 timed call per way, got {args.repeats}")
    if args.new_tokens < 2:
        parser.error(f"--new-tokens: at least 2 (decode time per token needs a decode step), got {args.new_tokens}")
    args.ways = [way.strip() for way in args.ways.split(",") if way.strip()]
    for way in args.ways:
        if way not in WAYS and not way.startswith("fast:"):
            parser.error(f"--ways: unknown way {way!r}; known: {', '.join(WAYS)}, fast:<piece>+<piece>")
        fast_pieces(way, args.fast_pieces, parser.error)
    return args


def fast_pieces(way: str, default: str, error: Callable[[str], None]) -> list[str]:
    """The fast-path pieces of a way (``fast`` takes ``--fast-pieces``, ``fast:a+b`` names its own)."""
    if way in ("stock", "default"):
        return []
    text = default.replace(",", "+") if way in ("fast", "fp8") else way.partition(":")[2]
    pieces = [piece for piece in text.split("+") if piece]
    if way == "fp8" and "fp8" not in pieces:
        pieces.append("fp8")
    unknown = [piece for piece in pieces if piece not in FAST_PIECES]
    if unknown:
        error(f"{way}: unknown fast-path pieces {unknown}; known: {', '.join(FAST_PIECES)}")
    return pieces


def fast_path_options(pieces: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """``enable_fast_path`` keyword arguments for ``pieces``."""
    vlm, transformer = "compile_vlm" in pieces, "compile_transformer" in pieces
    compile_option: bool | str = (
        True if vlm and transformer else "vlm" if vlm else "transformer" if transformer else False
    )
    return dict(
        compile=compile_option,
        static_cache="static_cache" in pieces,
        fuse_qkv="fuse_qkv" in pieces,
        batched_answers="batched_answers" in pieces,
        device_inputs="device_inputs" in pieces,
        fp8="fp8" in pieces,
        attention_backend=args.attention_backend,
        fullgraph=not args.no_fullgraph,
        vlm_cache_length=args.vlm_cache_length or None,
    )


# ----------------------------------------------------------------------------------------------------
# components
# ----------------------------------------------------------------------------------------------------


def real_size_vlm(device: torch.device, dtype: torch.dtype = torch.bfloat16):
    """``(vlm, processor)``: Qwen2.5-VL-7B with random weights of the real size and an offline processor."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from foresight_models import testing
    from foresight_models.presets import build

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
    return vlm, processor


def real_size_pipeline(device: torch.device, dtype: torch.dtype = torch.bfloat16):
    """``ForesightPipeline`` with real-size random-weight components and offline tokenizers."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from foresight_models import ForesightPipeline, testing
    from foresight_models.presets import LTX_VIDEO_SCHEDULER_CONFIG, build

    vlm, processor = real_size_vlm(device, dtype)
    scheduler = FlowMatchEulerDiscreteScheduler(**LTX_VIDEO_SCHEDULER_CONFIG)
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


def build_pipeline(args: argparse.Namespace):
    """``(pipe, device)`` for ``--preset``."""
    from foresight_models import testing

    if args.preset == "tiny":
        return testing.tiny_pipeline(), torch.device("cpu")
    if not torch.cuda.is_available():
        raise SystemExit("--preset real needs a CUDA device (use --preset tiny on a CPU)")
    device = torch.device("cuda")
    return real_size_pipeline(device), device


# ----------------------------------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------------------------------


class Clock:
    """Wall-clock seconds of code blocks, with ``torch.cuda.synchronize`` before and after on CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def timed(self, record: dict[str, float], key: str):
        self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            record[key] = record.get(key, 0.0) + time.perf_counter() - start

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float | None:
        if self.device.type != "cuda":
            return None
        return round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)


@contextlib.contextmanager
def no_gc():
    """No garbage-collector pause inside a timed call (a full collection here takes a fraction of a second)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def pipeline_stage_timers(pipe, clock: Clock, record: dict[str, float]):
    """Time ``ForesightPipeline``'s stage methods directly by wrapping them on this instance."""
    originals = {}
    for stage, name in PIPELINE_STAGES.items():
        method = getattr(pipe, name)  # a renamed stage fails here, loudly
        originals[name] = method

        def wrapped(*args, _method=method, _stage=stage, **kwargs):
            with clock.timed(record, f"{_stage}_s"):
                return _method(*args, **kwargs)

        setattr(pipe, name, wrapped)
    try:
        yield
    finally:
        for name in originals:
            delattr(pipe, name)  # the class's methods show through again


# ----------------------------------------------------------------------------------------------------
# the ways
# ----------------------------------------------------------------------------------------------------


def vlm_answer(pipe, device, content: list[dict], *, max_new_tokens: int, images=None, videos=None) -> str:
    """A plain transformers ``generate`` answer to one user turn (what a user writes by hand)."""
    messages = [{"role": "user", "content": content}]
    text = pipe.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = pipe.processor(text=[text], images=images, videos=videos, return_tensors="pt")
    inputs = inputs.to(device=device, dtype=pipe.vlm.dtype)
    ids = pipe.vlm.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return pipe.processor.batch_decode(ids[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0].strip()


def run_stock(pipe, stock_ltx, image, args, clock: Clock, device) -> dict[str, Any]:
    """The stock sequence: ``generate`` writes the prompt, ``LTXImageToVideoPipeline``, ``generate`` describes."""
    from foresight_models.inputs import to_pil_images
    from foresight_models.pipelines.foresight_pipeline import DEFAULT_QUESTION, MOTION_PROMPT_INSTRUCTION
    from foresight_models.pipelines.frames import sample_frames

    record: dict[str, float] = {}
    with no_gc(), clock.timed(record, "total_s"):
        with clock.timed(record, "prompt_s"):
            content = [{"type": "image"}, {"type": "text", "text": MOTION_PROMPT_INSTRUCTION}]
            prompt = vlm_answer(pipe, device, content, images=[image], max_new_tokens=args.new_tokens)
        with clock.timed(record, "video_s"):
            frames = stock_ltx(
                image=image,
                prompt=prompt,
                **video_arguments(args),
                generator=torch.Generator().manual_seed(args.seed),
                output_type="pt",
            ).frames  # (1, t, c, h, w) in [0, 1]
        with clock.timed(record, "describe_s"):
            clip = to_pil_images(sample_frames(frames[0], 8))
            content = [{"type": "video"}, {"type": "text", "text": DEFAULT_QUESTION}]
            description = vlm_answer(pipe, device, content, videos=[clip], max_new_tokens=args.new_tokens)
    return {"times": record, "frames": frames, "prompt": prompt, "description": description}


def video_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The LTX arguments every way uses (``ForesightPipeline``'s defaults, given explicitly to the stock pipeline)."""
    return dict(
        height=args.height,
        width=args.width,
        num_frames=args.num_frames,
        num_inference_steps=args.steps,
        guidance_scale=3.0,
        frame_rate=25,
        decode_timestep=0.05,
        decode_noise_scale=None,
        max_sequence_length=128,
    )


def run_pipeline(
    pipe, image, args, clock: Clock, *, prompt: str | None = None, num_continuations: int = 1
) -> dict[str, Any]:
    """One ``ForesightPipeline`` call, its stages timed."""
    record: dict[str, float] = {}
    with no_gc(), pipeline_stage_timers(pipe, clock, record), clock.timed(record, "total_s"):
        out = pipe(
            image,
            prompt=prompt,
            **video_arguments(args),
            num_continuations=num_continuations,
            rate=False,
            seed=args.seed,
            max_new_tokens=args.new_tokens,
            output_type="pt",
        )
    return {"times": record, "frames": out.frames, "prompt": out.prompt, "description": out.description}


def motion_prompt_inputs(vlm, processor, image, device):
    """The VLM's inputs for the motion-prompt question about ``image``, on ``device``."""
    from foresight_models.pipelines.foresight_pipeline import MOTION_PROMPT_INSTRUCTION

    content = [{"type": "image"}, {"type": "text", "text": MOTION_PROMPT_INSTRUCTION}]
    text = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    return processor(text=[text], images=[image], return_tensors="pt").to(device=device, dtype=vlm.dtype)


def vlm_decode(vlm, processor, image, new_tokens: int, clock: Clock, device) -> dict[str, Any]:
    """Prefill and per-token decode time of ``vlm`` as configured now, on the motion-prompt input."""
    inputs = motion_prompt_inputs(vlm, processor, image, device)
    n = new_tokens
    record: dict[str, float] = {}
    with torch.no_grad():
        for key, tokens in (("prefill_s", 1), ("generate_s", n)):
            vlm.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)  # warm-up
            with clock.timed(record, key):
                ids = vlm.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
            assert ids.shape[1] - inputs["input_ids"].shape[1] == tokens, "generate stopped early"
    return {
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "new_tokens": n,
        "prefill_s": round(record["prefill_s"], 4),
        "generate_s": round(record["generate_s"], 4),
        "decode_ms_per_token": round(1000 * (record["generate_s"] - record["prefill_s"]) / (n - 1), 2),
    }


def median_call(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The last of ``calls`` (its outputs) with each timing replaced by the median over the calls, and
    ``total_range_s``: the fastest and slowest total."""
    totals = [call["times"]["total_s"] for call in calls]
    times = {key: statistics.median(call["times"].get(key, 0.0) for call in calls) for key in calls[-1]["times"]}
    return {**calls[-1], "times": times, "total_range_s": [round(min(totals), 4), round(max(totals), 4)]}


def summarize(first: dict[str, Any], steady: dict[str, Any]) -> dict[str, Any]:
    times = steady["times"]
    stages = {f"{stage}_s": round(times.get(f"{stage}_s", 0.0), 4) for stage in STAGES}
    other = times["total_s"] - sum(times.get(f"{stage}_s", 0.0) for stage in STAGES)
    return {
        **stages,
        "other_s": round(other, 4),
        "total_s": round(times["total_s"], 4),
        "first_call_s": round(first["times"]["total_s"], 4),
        "compile_s": round(first["times"]["total_s"] - times["total_s"], 4),
        "repeats": len(steady.get("calls", [steady])),
        "total_range_s": steady.get("total_range_s", [round(times["total_s"], 4)] * 2),
        "calls_s": [{key: round(value, 4) for key, value in call["times"].items()} for call in steady.get("calls", [])],
        "prompt": steady["prompt"],
        "description": first_text(steady["description"]),
    }


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of frames in [0, 1] (``inf`` when equal)."""
    mse = torch.mean((a.float().cpu() - b.float().cpu()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


# ----------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    from diffusers import LTXImageToVideoPipeline

    from foresight_models import testing

    torch.manual_seed(args.seed)
    pipe, device = build_pipeline(args)
    clock = Clock(device)
    image = testing.demo_image().resize((args.width, args.height))
    if args.vae_tiling:
        pipe.enable_vae_tiling()
    stock_ltx = LTXImageToVideoPipeline(
        **{name: getattr(pipe, name) for name in ("transformer", "vae", "scheduler", "text_encoder", "tokenizer")}
    )
    stock_ltx.set_progress_bar_config(disable=True)

    ways = list(args.ways)
    if args.fp8:
        ways.append("fp8")
    if args.offload != "none":
        ways.append(f"offload_{args.offload}")
    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    record = {
        "benchmark": "pipeline_e2e",
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/pipeline_e2e.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "versions": versions(),
        "settings": {
            key: getattr(args, key)
            for key in ("preset", "height", "width", "num_frames", "steps", "new_tokens", "fast_pieces",
                        "attention_backend", "vlm_cache_length", "continuations", "offload", "offload_type", "vae_tiling", "seed")
        } | {"dtype": "bfloat16" if args.preset == "real" else "float32", "guidance_scale": 3.0, "output_type": "pt"},
        "ways": results,
        "checks": {},
    }  # fmt: skip
    started = time.perf_counter()
    interleaved: dict[str, tuple] = {}
    if args.repeats > 1 and {"stock", "default"} <= set(ways):
        print(f"[pipeline_e2e] {time.perf_counter() - started:7.1f} s: stock and default in turn ...", file=sys.stderr)
        pipe.disable_fast_path()
        interleaved = interleave_stock_and_default(pipe, stock_ltx, image, args, clock, device)
        record["settings"]["interleaved"] = ["stock", "default"]
    for way in ways:
        print(f"[pipeline_e2e] {time.perf_counter() - started:7.1f} s: {way} ...", file=sys.stderr, flush=True)
        pipe.disable_fast_path()
        clock.reset_peak()
        try:
            result, output = run_way(
                way, pipe, stock_ltx, image, args, clock, device, outputs.get("default"), interleaved.get(way)
            )
        except Exception as error:  # keep the other ways' figures; the failure is in the results and the exit status
            result, output = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}, None
            print(result["traceback"], file=sys.stderr)
        results[way] = result
        if output is not None:
            outputs[way] = output
        write(record, args.out)  # what is done survives a run that is stopped later
    pipe.disable_fast_path()
    print(f"[pipeline_e2e] {time.perf_counter() - started:7.1f} s: done", file=sys.stderr, flush=True)

    stock_total = results.get("stock", {}).get("total_s")
    for result in results.values():
        if stock_total and "total_s" in result:
            result["over_stock"] = round(result["total_s"] / stock_total, 4)
    record["checks"] = run_checks(args, outputs)
    write(record, args.out)
    print(markdown(record))
    return record


def write(record: dict[str, Any], path: str | None) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(record, f, indent=2, default=str)


def run_way(
    way, pipe, stock_ltx, image, args, clock: Clock, device, reference, measured=None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Warm-up call, timed call, VLM decode and n continuations of one way; ``reference``: the default
    way's output (or ``None``), whose prompt the fast ways reuse for their frame check; ``measured``:
    ``(first, steady, peak_gib)`` of calls already timed (:func:`interleave_stock_and_default`)."""
    result: dict[str, Any] = {}
    if way == "stock":
        if measured is None:
            first = run_stock(pipe, stock_ltx, image, args, clock, device)
            steady = repeated(lambda: run_stock(pipe, stock_ltx, image, args, clock, device), args.repeats)
            measured = (first, steady, clock.peak_gib())
        first, steady, peak = measured
        result.update(summarize(first, steady), peak_gib=peak)
        result["vlm"] = vlm_decode(pipe.vlm, pipe.processor, image, args.new_tokens, clock, device)
        return result, steady
    if way.startswith("offload_"):
        skipped = setup_offload(pipe, way, args, device)
        if skipped:
            return {"skipped": skipped}, None
        clock.reset_peak()  # the weights the ways before left on the device are on the CPU now
    if way.startswith("fast") or way == "fp8":
        result["fast_path"] = pipe.enable_fast_path(
            **fast_path_options(fast_pieces(way, args.fast_pieces, _fail), args)
        )
    if measured is None:
        first = run_pipeline(pipe, image, args, clock)
        steady = repeated(lambda: run_pipeline(pipe, image, args, clock), args.repeats)
        measured = (first, steady, clock.peak_gib())
    first, steady, peak = measured
    result.update(summarize(first, steady), peak_gib=peak)
    steady["check_frames"] = steady["frames"]
    if reference is not None and steady["prompt"] != reference["prompt"]:
        # compiled kernels can flip a greedy token of the prompt: compare the video made from the default's prompt
        steady["check_frames"] = run_pipeline(pipe, image, args, clock, prompt=reference["prompt"])["frames"]
    if way == "default":
        result["vlm"] = "the stock way's: the default path runs transformers' generate unchanged"
    else:
        result["vlm"] = vlm_decode(pipe.vlm, pipe.processor, image, args.new_tokens, clock, device)
    if args.continuations > 1 and (way in ("default", "fp8") or way.startswith("fast")):
        clock.reset_peak()
        run_pipeline(pipe, image, args, clock, num_continuations=args.continuations)  # warm-up at this batch size
        several = run_pipeline(pipe, image, args, clock, num_continuations=args.continuations)
        one = steady["times"]["total_s"]
        result["continuations"] = {
            "n": args.continuations,
            "total_s": round(several["times"]["total_s"], 4),
            "stages": {f"{s}_s": round(several["times"].get(f"{s}_s", 0.0), 4) for s in STAGES},
            "one_s": round(one, 4),
            "ratio": round(several["times"]["total_s"] / one, 4),
            "peak_gib": clock.peak_gib(),
        }
    return result, steady


def interleave_stock_and_default(pipe, stock_ltx, image, args, clock: Clock, device) -> dict[str, tuple]:
    """The stock and default ways' calls timed in turn (stock, default, stock, ...) after one warm-up call
    each: whatever drifts during a run (clocks, other load, the allocator) reaches both ways alike, which
    two blocks of calls one after the other do not ensure. ``{way: (first, steady, peak_gib)}``, the
    peak taken over the way's warm-up call."""
    calls = {
        "stock": lambda: run_stock(pipe, stock_ltx, image, args, clock, device),
        "default": lambda: run_pipeline(pipe, image, args, clock),
    }
    first, peak = {}, {}
    for way, call in calls.items():
        clock.reset_peak()
        first[way] = call()
        peak[way] = clock.peak_gib()
    timed: dict[str, list[dict[str, Any]]] = {way: [] for way in calls}
    for _ in range(args.repeats):
        for way, call in calls.items():
            timed[way].append(call())
    return {way: (first[way], {**median_call(timed[way]), "calls": timed[way]}, peak[way]) for way in calls}


def repeated(call: Callable[[], dict[str, Any]], repeats: int) -> dict[str, Any]:
    """``call()`` ``repeats`` times; one call as it is, several as :func:`median_call` of them."""
    calls = [call() for _ in range(repeats)]
    return calls[0] if repeats == 1 else {**median_call(calls), "calls": calls}


def _fail(message: str) -> None:
    raise ValueError(message)


def setup_offload(pipe, way: str, args, device) -> str | None:
    """Offload the pipeline for an ``offload_*`` way; the reason it cannot, or ``None``."""
    if way == "offload_model":
        if device.type != "cuda":
            return "model CPU offload moves components to an accelerator, and there is none"
        pipe.to("cpu")
        torch.cuda.empty_cache()
        pipe.enable_model_cpu_offload(device=device)
        return None
    pipe.to("cpu")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    pipe.enable_group_offload(
        device, offload_type=args.offload_type, use_stream=args.offload_stream and device.type == "cuda"
    )
    return None


def run_checks(args, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Stock vs default: equal frames; fast ways vs default: PSNR; offloaded vs default: max abs diff."""
    checks: dict[str, Any] = {}
    reference = outputs.get("default")
    if "stock" in outputs and reference is not None:
        stock = outputs["stock"]
        same_prompt = stock["prompt"] == reference["prompt"]
        diff = (stock["frames"].float().cpu() - reference["frames"].float().cpu()).abs().max().item()
        checks["default_equals_stock"] = {
            "same_prompt": same_prompt,
            "same_description": stock["description"] == first_text(reference["description"]),
            "max_abs_diff": diff,
            "bit_identical": bool(torch.equal(stock["frames"].cpu(), reference["frames"].cpu())),
            "atol": args.frames_atol,
            "passed": same_prompt and diff <= args.frames_atol,
        }
    for way, output in outputs.items():
        if reference is None or way in ("stock", "default"):
            continue
        same = {
            "same_prompt": output["prompt"] == reference["prompt"],
            "same_description": first_text(output["description"]) == first_text(reference["description"]),
        }
        if way.startswith("offload_"):
            diff = (output["frames"].float().cpu() - reference["frames"].float().cpu()).abs().max().item()
            checks[f"{way}_max_abs_diff"] = {"value": diff, **same}
            continue
        value = psnr(output["check_frames"], reference["frames"])
        checks[f"{way}_psnr_db"] = {
            "value": value if math.isfinite(value) else "inf",
            "min": args.psnr_min,
            **same,
            "passed": value >= args.psnr_min,
        }
    return checks


def first_text(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def versions() -> dict[str, str]:
    import diffusers
    import transformers

    found = {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__}
    found["transformers"] = transformers.__version__
    if torch.cuda.is_available():
        found["cuda"] = str(torch.version.cuda)
    try:
        import torchao

        found["torchao"] = torchao.__version__
    except ImportError:
        pass
    return found


def markdown(record: dict[str, Any]) -> str:
    """The results as a markdown table for ``benchmarks/RESULTS.md``."""

    def cell(value: Any, digits: int = 2) -> str:
        if value is None or value == "":
            return "-"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    s = record["settings"]
    lines = [
        f"{record['device']}; {', '.join(f'{k} {v}' for k, v in record['versions'].items())}; {record['date']}",
        f"{s['preset']} components, {s['dtype']}, {s['num_frames']}x{s['height']}x{s['width']}, {s['steps']} steps, "
        f"{s['new_tokens']} new tokens per answer. Command: `{record['command']}`",
        "",
        "| card | date | way | prompt_s | video_s | describe_s | other_s | total_s | / stock | first call s | compile_s "
        "| peak GiB | VLM prefill s | decode ms/token | n continuations / one |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, (way, r) in enumerate(record["ways"].items()):
        head = f"| {record['device'] if index == 0 else 'same run'} | {record['date']} | {way} "
        if "total_s" not in r:
            lines.append(head + f"| {r.get('skipped') or r.get('error')} |" + " |" * 11)
            continue
        vlm = r.get("vlm") if isinstance(r.get("vlm"), dict) else {}
        cont = r.get("continuations") or {}
        lines.append(
            head
            + f"| {cell(r['prompt_s'])} | {cell(r['video_s'])} | {cell(r['describe_s'])} | {cell(r['other_s'], 3)} "
            f"| {cell(r['total_s'])} | {cell(r.get('over_stock'), 3)} | {cell(r['first_call_s'])} | {cell(r['compile_s'])} "
            f"| {cell(r['peak_gib'])} | {cell(vlm.get('prefill_s'), 3)} | {cell(vlm.get('decode_ms_per_token'), 1)} "
            f"| {cell(cont.get('ratio'), 3)} |"
        )
    lines.append("")
    timed = {way: r for way, r in record["ways"].items() if r.get("repeats", 1) > 1}
    if timed:
        ranges = "; ".join(f"{way} {r['total_range_s'][0]:.2f}-{r['total_range_s'][1]:.2f} s" for way, r in timed.items())
        turns = " (stock and default in turn)" if record["settings"].get("interleaved") else ""
        lines.append(
            f"- medians of {next(iter(timed.values()))['repeats']} timed calls per way{turns}; totals ranged: {ranges}"
        )
    for name, check in record["checks"].items():
        lines.append(
            f"- `{name}`: " + ", ".join(f"{k} {cell(v, 4) if isinstance(v, float) else v}" for k, v in check.items())
        )
    for way, r in record["ways"].items():
        if r.get("fast_path"):
            active = [piece for piece, status in r["fast_path"].items() if status == "active"]
            lines.append(f"- `{way}` pieces active: {', '.join(active) or 'none'}")
    return "\n".join(lines)


if __name__ == "__main__":
    final = main()
    failed = [name for name, check in final["checks"].items() if check.get("passed") is False]
    errors = [way for way, r in final["ways"].items() if "error" in r]
    if failed or errors:
        print(f"[pipeline_e2e] failed checks: {failed}; ways with errors: {errors}", file=sys.stderr)
        sys.exit(1)
