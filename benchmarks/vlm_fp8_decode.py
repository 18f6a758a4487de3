"""Qwen2.5-VL-7B's decoding with torchao float8 linear layers: does float8 speed up the VLM's answers?

The VLM has random weights of the real size (timing does not depend on weight values), bf16 on one CUDA
device, and answers the motion-prompt question about one 704x512 image (691 prompt tokens), as in
``pipeline_e2e.py``'s ``vlm`` figures: ``prefill_s`` is ``generate`` with 1 new token,
``decode_ms_per_token`` is ``(generate with --new-tokens - prefill) / (new tokens - 1)``, each timed
after a warm-up call. Ways, in order, in one process:

- ``stock``: transformers' ``generate`` as shipped (dynamic cache, eager);
- ``compiled``: the fast path's VLM pieces: static cache of 4096 positions and the decode step
  compiled with ``mode="reduce-overhead"`` (CUDA graphs);
- ``compiled_fp8_weight_only``: the same with torchao ``Float8WeightOnlyConfig`` in the language
  model's linear layers (float8 weights, bf16 activations: half the bytes to read per token);
- ``compiled_fp8_dynamic_row``: the same with ``Float8DynamicActivationFloat8WeightConfig(PerRow())``
  (the fast path's ``fp8`` configuration for the LTX blocks).

Each float8 way starts from the bf16 weights again; while it runs they wait on the CPU, as with the fast
path's ``fp8``. ``logits_rel_err``: the RMS difference of the
last prompt position's logits (one eager forward) from the bf16 ones over their RMS.

Writes ``--out`` (JSON, after every way) and prints it.

    python benchmarks/vlm_fp8_decode.py --out outputs/vlm_fp8_decode.json   # needs CUDA and torchao
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_e2e import Clock, motion_prompt_inputs, real_size_vlm, versions, vlm_decode  # noqa: E402

WAYS = ("stock", "compiled", "compiled_fp8_weight_only", "compiled_fp8_dynamic_row")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated, from {', '.join(WAYS)}")
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    args.ways = args.ways.split(",")
    unknown = [way for way in args.ways if way not in WAYS]
    if unknown:
        parser.error(f"--ways: unknown {unknown}; expected some of {list(WAYS)}")
    if args.new_tokens < 2:
        parser.error(f"--new-tokens: expected >= 2, got {args.new_tokens}")
    return args


def language_model_linears(vlm) -> dict[str, torch.nn.Linear]:
    """The linear layers of the language model's decoder layers (not the vision tower, not ``lm_head``)."""
    return {
        name: module
        for name, module in vlm.named_modules()
        if isinstance(module, torch.nn.Linear) and ".language_model.layers." in f".{name}"
    }


def float8(vlm, way: str):
    """Quantize the language model's linear layers for ``way``; returns the function that restores bf16."""
    from torchao.quantization import Float8WeightOnlyConfig

    from foresight_models.pipelines.fast_path import float8_linear_layers

    config = Float8WeightOnlyConfig() if way == "compiled_fp8_weight_only" else None  # None: dynamic row-wise
    return float8_linear_layers(vlm, list(language_model_linears(vlm)), config)


def last_logits(vlm, inputs) -> torch.Tensor:
    with torch.no_grad():
        return vlm(**inputs, use_cache=False).logits[0, -1].float()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from transformers import CompileConfig

    from foresight_models import testing

    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    device = torch.device("cuda")
    torch.manual_seed(0)
    vlm, processor = real_size_vlm(device)
    clock = Clock(device)
    image = testing.demo_image().resize((704, 512))
    inputs = motion_prompt_inputs(vlm, processor, image, device)
    reference = last_logits(vlm, inputs)
    record = {
        "benchmark": "vlm_fp8_decode",
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/vlm_fp8_decode.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(device),
        "versions": versions(),
        "linear_layers_quantized": len(language_model_linears(vlm)),
        "ways": {},
    }
    for way in args.ways:
        config = vlm.generation_config
        config.cache_implementation = None if way == "stock" else "static"
        config.max_cache_len = None if way == "stock" else 4096
        config.disable_compile = way == "stock"
        config.compile_config = None if way == "stock" else CompileConfig(fullgraph=False, mode="reduce-overhead")
        restore = None
        try:
            result: dict = {}
            if "fp8" in way:
                restore = float8(vlm, way)
                logits = last_logits(vlm, inputs)
                result["logits_rel_err"] = round(
                    ((logits - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt()).item(), 5
                )
            torch.cuda.reset_peak_memory_stats(device)
            with clock.timed(result, "first_calls_s"):
                result.update(vlm_decode(vlm, processor, image, args.new_tokens, clock, device))
            result["first_calls_s"] = round(result["first_calls_s"], 1)
            result["peak_gib"] = clock.peak_gib()
        except Exception as error:  # keep the other ways' figures
            result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-2000:]}
        finally:
            if restore is not None:
                restore()
        record["ways"][way] = result
        if args.out:
            with open(args.out, "w") as f:
                json.dump(record, f, indent=1)
        print(way, json.dumps(result), file=sys.stderr, flush=True)
    print(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    main()
