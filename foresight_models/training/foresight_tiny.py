"""The recipe of foresight-tiny: initialise, train each part with its config, assemble the pipeline.

One command retrains every part from scratch (on one GPU, each part in minutes)::

    python -m foresight_models.training.foresight_tiny --run-dir runs/foresight-tiny

It runs, in order:

1. ``init``: the untrained pipeline (:func:`foresight_models.foresight_tiny.foresight_tiny_components`)
   saved into ``<run-dir>/init``;
2. the training runs of ``configs/foresight-tiny/``: ``vae.yaml`` (the VAE reconstructs clips),
   ``vlm.yaml`` to ``vlm-7.yaml`` (Qwen2.5-VL answers the pipeline's two questions; from ``vlm-6.yaml``
   on it reads the context frames as one video) and
   ``transformer.yaml`` to ``transformer-5.yaml`` (LTX-Video image-to-video flow matching on the
   trained VAE's latents, prompted with the clip's label; from ``transformer-3.yaml`` on with T5
   trained too, from ``transformer-4.yaml`` on with one prompt in ten left empty for classifier-free
   guidance). Each run continues the one before it, and each is
   ``foresight train --config configs/foresight-tiny/<part>.yaml`` on its own;
3. ``assemble``: the init folder with the trained VAE, transformer and VLM, saved as one pipeline
   folder (``<run-dir>/pipeline``).

The configs name their folders under ``runs/foresight-tiny``; ``--run-dir`` moves them all.
``--max-steps N`` caps every part (``--max-steps 2 --smoke`` runs everything on a CPU in a minute or two).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._validation import check_bool

__all__ = ["PARTS", "assemble", "init_folder", "load_part_config", "main"]

#: The training runs, in the order they must run (the transformer needs the trained VAE).
PARTS = (
    "vae",
    *("vlm", "vlm-2", "vlm-3", "vlm-4", "vlm-5", "vlm-6", "vlm-7"),
    *("transformer", "transformer-2", "transformer-3", "transformer-4", "transformer-5"),
)
#: The run whose output the pipeline takes, per trained component (the last run of each).
FINAL_RUNS = {"vae": "vae", "vlm": "vlm-7", "transformer": "transformer-5"}
#: The run directory the configs in the repository are written for.
DEFAULT_RUN_DIR = "runs/foresight-tiny"


def init_folder(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Save the untrained foresight-tiny pipeline into ``path`` (a complete ``ForesightPipeline`` folder)."""
    from ..foresight_tiny import foresight_tiny_components
    from ..pipelines.foresight_pipeline import ForesightPipeline

    path = Path(path)
    ForesightPipeline(**foresight_tiny_components(seed)).save_pretrained(path)
    return path


def load_part_config(
    config: str | os.PathLike, *, run_dir: str | os.PathLike, max_steps: int | None = None, smoke: bool = False
):
    """Read a part's config with its ``runs/foresight-tiny`` paths moved under ``run_dir`` (a ``RunConfig``).

    ``max_steps`` caps the run (and the cadences of checkpoints, logs and evaluation); ``smoke`` also
    makes it CPU-sized: batches of 2, no worker processes, full precision, 2 evaluation clips.
    """
    from .config import load_config, read_config_file

    raw = _relocate(read_config_file(config), os.fspath(run_dir))
    overrides: dict[str, Any] = {"optim": {}}
    if smoke:
        overrides["optim"].update(batch_size=2, num_workers=0, mixed_precision="no")
        if "eval" in raw:
            overrides["eval"] = {"num_clips": 2}
    if max_steps is not None:
        overrides["optim"]["max_steps"] = max_steps
        for section in ("checkpoint", "logging"):
            every = raw.get(section, {}).get("every")
            if every is not None:
                overrides[section] = {"every": min(every, max_steps)}
        if "eval" in raw and raw["eval"].get("every") is not None:
            overrides.setdefault("eval", {})["every"] = min(raw["eval"]["every"], max_steps)
        warmup = raw.get("optim", {}).get("warmup_steps")
        if warmup is not None:
            overrides["optim"]["warmup_steps"] = min(warmup, max_steps)
    return load_config(raw, overrides=overrides)


def _relocate(value: Any, run_dir: str) -> Any:
    """Replace the ``runs/foresight-tiny`` prefix of every string in a config with ``run_dir``."""
    if isinstance(value, dict):
        return {key: _relocate(item, run_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_relocate(item, run_dir) for item in value]
    if isinstance(value, str) and (value == DEFAULT_RUN_DIR or value.startswith(DEFAULT_RUN_DIR + "/")):
        return run_dir + value[len(DEFAULT_RUN_DIR) :]
    return value


def assemble(
    init: str | os.PathLike,
    out: str | os.PathLike,
    *,
    vae: str | os.PathLike,
    transformer: str | os.PathLike,
    vlm: str | os.PathLike,
    text_encoder: str | os.PathLike | None = None,
    context_as_video: bool | None = None,
) -> Path:
    """Write the pipeline folder ``out``: ``init``'s components with the trained ``vae`` (an
    ``AutoencoderKLLTXVideo`` folder), ``transformer`` (an ``LTXVideoTransformer3DModel`` folder),
    ``vlm`` (a ``Qwen2_5_VLForConditionalGeneration`` folder) and, when the transformer's run trained
    it too (``train_text_encoder``), ``text_encoder`` (a ``T5EncoderModel`` folder).

    ``context_as_video``: how the VLM was trained to read the context (the pipeline's config of that
    name); ``None`` keeps ``init``'s."""
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
    from transformers import Qwen2_5_VLForConditionalGeneration, T5EncoderModel

    from ..pipelines.foresight_pipeline import ForesightPipeline

    pipe = ForesightPipeline.from_pretrained(os.fspath(init), local_files_only=True)
    pipe.register_modules(
        vae=AutoencoderKLLTXVideo.from_pretrained(os.fspath(vae), local_files_only=True).eval(),
        transformer=LTXVideoTransformer3DModel.from_pretrained(os.fspath(transformer), local_files_only=True).eval(),
        vlm=Qwen2_5_VLForConditionalGeneration.from_pretrained(os.fspath(vlm), local_files_only=True).eval(),
    )
    if text_encoder is not None:
        pipe.register_modules(
            text_encoder=T5EncoderModel.from_pretrained(os.fspath(text_encoder), local_files_only=True).eval()
        )
    if context_as_video is not None:
        pipe.register_to_config(context_as_video=check_bool(context_as_video, "context_as_video"))
    pipe.save_pretrained(os.fspath(out))
    return Path(out)


def _reads_context_as_video(config: str | os.PathLike) -> bool:
    """Whether a VLM part's config trains the motion prompt on the context as one video."""
    from .config import read_config_file

    return bool(read_config_file(config).get("task", {}).get("context_as_video", False))


def _trained_text_encoder(final: Path) -> Path | None:
    """The T5 encoder a transformer run saved beside its transformer (``train_text_encoder``), if any."""
    folder = final / "text_encoder"
    return folder if (folder / "config.json").is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m foresight_models.training.foresight_tiny", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="where the runs go (default: %(default)s)")
    parser.add_argument("--configs", default="configs/foresight-tiny", help="the parts' configs (default: %(default)s)")
    parser.add_argument("--parts", default=",".join(("init", *PARTS, "assemble")), help="steps to run, in order")
    parser.add_argument("--max-steps", type=int, default=None, help="cap every part's optimizer steps")
    parser.add_argument("--until-step", type=int, default=None, help="stop each part at this step (resumable)")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="stop each part after this many seconds (resumable)"
    )
    parser.add_argument("--smoke", action="store_true", help="CPU-sized batches (with --max-steps: a quick check)")
    args = parser.parse_args(argv)
    from .trainer import train

    run_dir = Path(args.run_dir)
    steps = [step.strip() for step in args.parts.split(",") if step.strip()]
    for step in steps:
        if step not in ("init", *PARTS, "assemble"):
            parser.error(f"--parts: unknown step {step!r}; expected init, {', '.join(PARTS)} or assemble")
    for step in steps:
        started = time.perf_counter()
        if step == "init":
            init_folder(run_dir / "init")
        elif step == "assemble":
            assemble(
                run_dir / "init",
                run_dir / "pipeline",
                **{name: run_dir / run / "final" / name for name, run in FINAL_RUNS.items()},
                text_encoder=_trained_text_encoder(run_dir / FINAL_RUNS["transformer"] / "final"),
                context_as_video=_reads_context_as_video(Path(args.configs) / f"{FINAL_RUNS['vlm']}.yaml"),
            )
        else:
            config = load_part_config(
                Path(args.configs) / f"{step}.yaml", run_dir=run_dir, max_steps=args.max_steps, smoke=args.smoke
            )
            result = train(config, until_step=args.until_step, time_limit=args.time_limit)
            print(f"{step}: step {result.step}, last values {result.last_metrics}")
        print(f"{step}: {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
