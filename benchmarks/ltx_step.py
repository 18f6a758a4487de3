"""One LTX-Video 2B denoising step at 121x512x704: eager, compiled, attention backends, batch 8, float8.

The transformer has random weights of the real size (``foresight_models.presets.build``; timing does
not depend on weight values), bf16 on one CUDA device. Inputs are one guided denoising step of a
121-frame 512x704 clip: batch 2 (unconditional + conditional), 16x16x22 = 5632 latent tokens, 128
prompt tokens. Each row is the median of 8 forwards after 2 warm-ups (``first_s``: the warm-ups,
compilation included); ``rel_err`` is the RMS difference of the output from the eager one over its
RMS. Rows, in order:

- ``eager_native``: the stock forward;
- ``compiled_<backend>``: regional compilation (``compile_repeated_blocks(fullgraph=True)``, as the
  fast path's ``transformer_compile``) with diffusers' attention backend ``native``, ``_native_cudnn``,
  ``_native_efficient``, ``_native_flash`` (the last refuses the cross-attention's mask);
- ``compiled_best_b8``: the fastest of those at batch 8 (four guided continuations);
- ``fp8row_compiled_native`` / ``_best`` / ``_best_b8``: the same after
  :func:`~foresight_models.pipelines.fast_path.float8_transformer_blocks` (the fast path's ``fp8``);
- ``vae_decode_eager``: the VAE decoding the clip's latents, for the share of the video stage it takes.

Writes ``--out`` (JSON, after every row) and prints it.

    python benchmarks/ltx_step.py --out outputs/ltx_step.json     # needs a CUDA device; torchao for the fp8 rows
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback

import torch

from foresight_models import presets

BACKENDS = {
    "compiled_native": "native",
    "compiled_cudnn": "_native_cudnn",
    "compiled_efficient": "_native_efficient",
    "compiled_flash": "_native_flash",
}


def timed(fn, warmup: int = 2, iters: int = 8) -> tuple[float, float]:
    """(median milliseconds of ``fn()``, seconds of the warm-up calls)."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    first = time.perf_counter() - start
    times = []
    for _ in range(iters):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2), round(first, 1)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("ltx_step.py needs a CUDA device")
    device, dtype = torch.device("cuda"), torch.bfloat16
    transformer = presets.build("ltx-video-2b-transformer", device=device, dtype=dtype).eval()
    config = transformer.config
    latent = (16, 16, 22)  # 121 frames at 512x704 through LTX's VAE (8x temporal, 32x spatial)
    n = latent[0] * latent[1] * latent[2]
    generator = torch.Generator(device).manual_seed(0)

    def inputs(batch: int) -> dict:
        return dict(
            hidden_states=torch.randn(batch, n, config.in_channels, generator=generator, device=device, dtype=dtype),
            encoder_hidden_states=torch.randn(
                batch, 128, config.caption_channels, generator=generator, device=device, dtype=dtype
            ),
            timestep=torch.full((batch, n), 500.0, device=device),
            encoder_attention_mask=torch.ones(batch, 128, dtype=torch.long, device=device),
            num_frames=latent[0],
            height=latent[1],
            width=latent[2],
            return_dict=False,
        )

    results: dict = {"card": torch.cuda.get_device_name(device), "torch": torch.__version__, "tokens": n}
    reference: list[torch.Tensor] = []
    batch_2 = inputs(2)

    def write() -> None:
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)
        print(json.dumps(results), flush=True)

    def row(name: str, backend: str = "native", compile: bool = True, batch: int = 2) -> None:
        x = batch_2 if batch == 2 else inputs(batch)
        try:
            torch._dynamo.reset()
            for block in transformer.transformer_blocks:
                block._compiled_call_impl = None
            transformer.set_attention_backend(backend)
            if compile:
                transformer.compile_repeated_blocks(fullgraph=True)
            with torch.no_grad():
                ms, first = timed(lambda: transformer(**x))
                y = transformer(**x)[0].float()
            record = {"ms": ms, "first_s": first}
            if batch == 2:
                if not reference:
                    reference.append(y)
                else:
                    error = (y - reference[0]).pow(2).mean() / reference[0].pow(2).mean()
                    record["rel_err"] = round(error.sqrt().item(), 5)
            results[name] = record
        except Exception as error:  # keep the other rows
            results[name] = {"error": f"{type(error).__name__}: {error}"[:400]}
            traceback.print_exc()
        write()

    row("eager_native", compile=False)
    for name, backend in BACKENDS.items():
        row(name, backend=backend)
    best = min((k for k in BACKENDS if "ms" in results.get(k, {})), key=lambda k: results[k]["ms"])
    results["best_backend"] = BACKENDS[best]
    row("compiled_best_b8", backend=BACKENDS[best], batch=8)
    try:
        from foresight_models.pipelines.fast_path import float8_transformer_blocks

        float8_transformer_blocks(transformer)
        import torchao

        results["torchao"] = torchao.__version__
        row("fp8row_compiled_native")
        row("fp8row_compiled_best", backend=BACKENDS[best])
        row("fp8row_compiled_best_b8", backend=BACKENDS[best], batch=8)
    except ImportError as error:
        results["fp8_skipped"] = f"torchao is not installed ({error})"
        write()
    transformer = None  # free the card for the VAE
    torch.cuda.empty_cache()
    vae = presets.build("ltx-video-vae", device=device, dtype=dtype).eval()
    z = torch.randn(1, 128, *latent, device=device, dtype=dtype)
    with torch.no_grad():
        results["vae_decode_eager"] = {"ms": timed(lambda: vae.decode(z, return_dict=False), warmup=1, iters=3)[0]}
    write()
    return results


if __name__ == "__main__":
    main()
