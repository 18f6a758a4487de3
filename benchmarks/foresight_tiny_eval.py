"""Foresight on held-out ``SyntheticMotion`` clips: where the objects go, and whether the VLM names the action.

The research's final experiment ("video predicts, VLM describes", ``docs/research.md``) rerun where the
ground truth is known exactly, on any ``ForesightPipeline`` folder. Clips are
``ForesightClips(SyntheticMotion(n, frames=3 + F, size=S, seed=SEED), context_indices=(0, 3), num_frames=F)``
with a seed never used in training (the recipe trains and evaluates on seeds 1..17; the default here is 1000); the
pipeline gets the two context images and predicts ``F`` frames (frame 0 is the last context image).

1. **Centre error per horizon** (:func:`foresight_models.evaluation.evaluate_synthetic_foresight`): each
   object located by its colour in every predicted frame vs its true box centre, for the pipeline (the
   VLM writes the motion prompt), ``CopyLastFrame`` and ``LinearExtrapolation`` (of the true context
   centres: a tracker that knows where the objects were and assumes constant velocity); a missing
   object counts as the frame diagonal. Paired tests and a 95% bootstrap CI at the last frame
   (``evaluation.compare``). PSNR and SSIM per horizon.
2. **Action recall**: the VLM describes the real future clip (``pipe.describe``) and the generated one
   (the pipeline's own description); the action a description states
   (:func:`~foresight_models.evaluation.action_from_text`) is matched against the clip's.
3. **Prompt ablation**: (1)'s video metrics with the VLM-written prompt, the true label, an empty prompt.

Then the goals of the foresight-tiny model are checked and printed as met / missed with the numbers:
centre error at the last frame at most half of ``CopyLastFrame``'s with p < 0.001; action recall at
least 90% on real clips, and on generated clips at least 0.9 times the real figure.
Writes the JSON (``--out``) and a markdown section for ``benchmarks/RESULTS.md`` and the model card
(``--markdown``).

    python benchmarks/foresight_tiny_eval.py --model path/to/foresight-tiny --device cuda --out results.json \\
        --markdown results.md
    python benchmarks/foresight_tiny_eval.py --model path/to/foresight-tiny --device cpu --num-clips 4 --out r.json

The prompt sources can run in separate processes (or on separate machines) and be merged:

    python benchmarks/foresight_tiny_eval.py --model DIR --prompts vlm --out vlm.json
    python benchmarks/foresight_tiny_eval.py --model DIR --prompts label,empty --no-recall --out rest.json
    python benchmarks/foresight_tiny_eval.py --combine vlm.json rest.json --out results.json --markdown results.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

CONTEXT_INDICES = (0, 3)
#: SyntheticMotion seeds the foresight-tiny recipe uses (``configs/foresight-tiny/``; 0 is the dataset's default).
TRAINING_SEEDS = range(18)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a ForesightPipeline folder (from_pretrained, local files only)")
    parser.add_argument("--num-clips", type=int, default=200, help="held-out clips (default 200)")
    parser.add_argument("--seed", type=int, default=1000, help=f"SyntheticMotion seed of the held-out clips (not {TRAINING_SEEDS[0]}..{TRAINING_SEEDS[-1]})")
    parser.add_argument("--noise-seed", type=int, default=0, help="clip i is generated with noise seed noise_seed + i")
    parser.add_argument("--steps", type=int, default=8, help="num_inference_steps")
    parser.add_argument("--guidance", type=float, default=1.0, help="guidance_scale")
    parser.add_argument("--size", type=int, default=128, help="frame height and width (multiple of 32)")
    parser.add_argument("--frames", type=int, default=17, help="predicted frames, 8k + 1 (frame 0 is the context)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="VLM tokens per answer (a label is ~60)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--prompts", default="vlm,label,empty", help="prompt sources to run: vlm, label, empty")
    parser.add_argument("--no-recall", action="store_true", help="skip the descriptions (action recall)")
    parser.add_argument("--out", required=True, help="JSON results")
    parser.add_argument("--markdown", default=None, help="also write the markdown section here")
    parser.add_argument(
        "--combine",
        nargs="+",
        default=None,
        metavar="JSON",
        help="instead of running, merge the runs of earlier --out files (e.g. --prompts vlm and --prompts "
        "label,empty --no-recall run in two processes) into one report; the first file's first run is the main one",
    )
    args = parser.parse_args(argv)
    if args.combine is not None:
        return args
    if args.model is None:
        parser.error("--model: required (a ForesightPipeline folder) unless --combine is given")
    args.prompts = [p.strip() for p in args.prompts.split(",") if p.strip()]
    unknown = [p for p in args.prompts if p not in ("vlm", "label", "empty")]
    if unknown or not args.prompts:
        parser.error(f"--prompts: expected a comma-separated subset of vlm,label,empty, got {unknown or args.prompts}")
    if args.seed in TRAINING_SEEDS:
        parser.error(
            f"--seed: {args.seed} is a training seed ({TRAINING_SEEDS[0]}..{TRAINING_SEEDS[-1]}); "
            "held-out clips need another seed"
        )
    if args.num_clips < 1:
        parser.error(f"--num-clips: expected >= 1, got {args.num_clips}")
    return args


def load_pipeline(model: str, device: str, dtype: str):
    from foresight_models import ForesightPipeline

    # diffusers 0.42 passes `dtype=` to its own models only; `torch_dtype=` also reaches T5 and Qwen2.5-VL
    pipe = ForesightPipeline.from_pretrained(model, local_files_only=True, torch_dtype=getattr(torch, dtype))
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def held_out_clips(num_clips: int, seed: int, size: int, frames: int):
    from foresight_models.data import ForesightClips, SyntheticMotion

    motion = SyntheticMotion(num_clips, frames=CONTEXT_INDICES[-1] + frames, size=size, seed=seed)
    return ForesightClips(motion, context_indices=CONTEXT_INDICES, num_frames=frames)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from foresight_models.evaluation import evaluate_synthetic_foresight, pipeline_predictor

    pipe = load_pipeline(args.model, args.device, args.dtype)
    if "vlm" in args.prompts and pipe.vlm is None:
        raise SystemExit("--prompts vlm: the pipeline has no VLM to write the prompt; pass --prompts label,empty")
    clips = held_out_clips(args.num_clips, args.seed, args.size, args.frames)
    runs, timings = {}, {}
    for source in args.prompts:
        # descriptions (action recall) are measured on the first source's run
        main = source == args.prompts[0] and not args.no_recall
        predict = pipeline_predictor(
            pipe,
            prompt=source,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            seed=args.noise_seed,
            max_new_tokens=args.max_new_tokens,
            describe=main and pipe.vlm is not None,
        )
        describe = None
        if main and pipe.vlm is not None:

            def describe(video, _pipe=pipe):
                with torch.inference_mode():
                    return _pipe.describe(video, max_new_tokens=args.max_new_tokens)

        start = time.perf_counter()

        def progress(done: int, total: int, _source=source, _start=start) -> None:
            if done == total or done % max(1, total // 10) == 0:
                elapsed = time.perf_counter() - _start
                print(f"[{_source}] {done}/{total} clips, {elapsed:.1f} s", file=sys.stderr, flush=True)

        runs[source] = evaluate_synthetic_foresight(
            predict, clips, describe=describe, device=args.device, progress=progress
        )
        timings[source] = time.perf_counter() - start
    return assemble(args, runs, timings)


# -- results -------------------------------------------------------------------------------------------


def goals(main_summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each with ``met`` (``None`` when not measurable) and the numbers behind it."""
    results = []
    comparison = main_summary["last_frame"]["prediction_vs_copy"]
    if comparison is None:
        results.append({"goal": "centre error at the last frame <= 0.5 x CopyLastFrame's, p < 0.001", "met": None,
                        "detail": "needs at least 2 clips"})
    else:
        met = (
            comparison["mean_a"] <= 0.5 * comparison["mean_b"]
            and comparison["p_value"] < 0.001
            and comparison["mean_diff"] < 0
        )
        results.append({
            "goal": "centre error at the last frame <= 0.5 x CopyLastFrame's, p < 0.001",
            "met": bool(met),
            "detail": (
                f"{comparison['mean_a']:.2f} px vs copy {comparison['mean_b']:.2f} px (ratio {_fmt(comparison['ratio'], '.3f')}), "
                f"diff {comparison['mean_diff']:+.2f} px, 95% CI [{comparison['ci95'][0]:+.2f}, {comparison['ci95'][1]:+.2f}], "
                f"paired t p = {comparison['p_value']:.2g}, Wilcoxon p = {comparison['p_wilcoxon']:.2g}, n = {comparison['n']}"
            ),
        })
    recall = main_summary["action_recall"]
    real, generated = recall["real"], recall["generated"]
    if real is None:
        results.append({"goal": "action recall >= 90% on real clips", "met": None, "detail": "no VLM descriptions"})
    else:
        results.append({"goal": "action recall >= 90% on real clips", "met": bool(real >= 0.9), "detail": f"{real:.1%}"})
    if real is None or generated is None:
        results.append({"goal": "action recall on generated clips >= 0.9 x real", "met": None,
                        "detail": "no VLM descriptions"})
    else:
        met = generated >= 0.9 * real
        ratio = f"ratio {generated / real:.3f}" if real > 0 else "vacuous: the real recall is 0"
        results.append({"goal": "action recall on generated clips >= 0.9 x real", "met": bool(met),
                        "detail": f"{generated:.1%} generated vs {real:.1%} real ({ratio})"})
    return results


CONFIG_KEYS = ("num_clips", "seed", "noise_seed", "steps", "guidance", "size", "frames", "max_new_tokens", "dtype")


def combine(paths: list[str]) -> dict[str, Any]:
    """One report from the ``--out`` files of several runs on the same clips and settings."""
    from foresight_models.evaluation import SyntheticForesightResult

    files = [json.loads(Path(path).read_text()) for path in paths]
    first = files[0]["config"]
    runs, timings = {}, {}
    for path, data in zip(paths, files):
        for key in CONFIG_KEYS + ("model",):
            if data["config"][key] != first[key]:
                raise SystemExit(f"--combine: {path} has {key}={data['config'][key]!r}, {paths[0]} has {first[key]!r}")
        for source, run in data["runs"].items():
            if source in runs:
                raise SystemExit(f"--combine: the prompt source {source!r} is in two files ({path})")
            runs[source] = SyntheticForesightResult.from_dict(run)
            timings[source] = data["config"]["seconds"][source]
    args = argparse.Namespace(**{key: first[key] for key in CONFIG_KEYS}, model=first["model"], prompts=list(runs),
                              device=first["device"])
    return assemble(args, runs, timings, machine_text=first["machine"], date=first["date"])


def assemble(
    args: argparse.Namespace,
    runs: dict[str, Any],
    timings: dict[str, float],
    *,
    machine_text: str | None = None,
    date: str | None = None,
) -> dict[str, Any]:
    main_source = args.prompts[0]
    summaries = {source: result.summary() for source, result in runs.items()}
    main = summaries[main_source]
    ablation = {}
    for source, summary in summaries.items():
        ablation[source] = {
            "centre_error": summary["centre_error"]["prediction"],
            "missing_fraction": summary["missing_fraction"]["prediction"],
            "psnr": summary["psnr"]["prediction"],
            "ssim": summary["ssim"]["prediction"],
            "last_frame_vs_copy": summary["last_frame"]["prediction_vs_copy"],
            "prompt_action_recall": summary["action_recall"]["prompt"],
            "seconds": timings[source],
        }
    return {
        "config": {
            "model": str(args.model),
            "num_clips": args.num_clips,
            "seed": args.seed,
            "noise_seed": args.noise_seed,
            "steps": args.steps,
            "guidance": args.guidance,
            "size": args.size,
            "frames": args.frames,
            "context_indices": list(CONTEXT_INDICES),
            "max_new_tokens": args.max_new_tokens,
            "device": args.device,
            "dtype": args.dtype,
            "prompts": args.prompts,
            "main_prompt": main_source,
            "machine": machine_text or machine(args.device),
            "date": date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "seconds": timings,
        },
        "centre_error": {
            "horizons": main["horizons"],
            "diagonal": main["diagonal"],
            "mean": main["centre_error"],
            "missing_fraction": main["missing_fraction"],
            "last_frame": main["last_frame"],
            "per_action": main["per_action"],
        },
        "image_metrics": {"psnr": main["psnr"], "ssim": main["ssim"]},
        "action_recall": {
            **main["action_recall"],
            "with_objects": main["action_and_objects_recall"],
            "mentions": main["mention_recall"],
        },
        "prompt_ablation": ablation,
        "goals": goals(main),
        "runs": {source: result.to_dict() for source, result in runs.items()},
    }


def machine(device: str) -> str:
    import diffusers
    import transformers

    name = torch.cuda.get_device_name(torch.device(device)) if str(device).startswith("cuda") else platform.processor()
    return (
        f"{name or platform.machine()}, torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"transformers {transformers.__version__}"
    )


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: dict[str, Any]) -> str:
    config, errors, image = results["config"], results["centre_error"], results["image_metrics"]
    lines = [
        "## foresight-tiny on held-out SyntheticMotion (`benchmarks/foresight_tiny_eval.py`)",
        "",
        f"{config['num_clips']} held-out clips (SyntheticMotion seed {config['seed']}; the recipe trains and evaluates on seeds 1..{TRAINING_SEEDS[-1]}). "
        f"Machine: {config['machine']}; {config['date']}; "
        f"{sum(config['seconds'].values()):.0f} s for {len(config['seconds'])} prompt runs.",
        "",
        f"`python benchmarks/foresight_tiny_eval.py --model {config['model']} --num-clips {config['num_clips']} "
        f"--seed {config['seed']} --steps {config['steps']} --guidance {config['guidance']} --size {config['size']} "
        f"--frames {config['frames']} --max-new-tokens {config['max_new_tokens']} --device {config['device']} --dtype "
        f"{config['dtype']} --prompts {','.join(config['prompts'])}`: {config['size']}x{config['size']} frames, context "
        f"frames {config['context_indices']}, {config['frames']} predicted frames (frame 0 is the last context "
        f"image), {config['steps']} steps, guidance {config['guidance']}, motion prompt: {config['main_prompt']}.",
        "",
        "**Where are the objects?** Mean centre error in pixels per horizon (objects located by colour; a missing "
        f"object counts as the frame diagonal, {errors['diagonal']:.1f} px). `extrapolation`: constant velocity from "
        "the objects' true centres in the two context frames.",
        "",
        "| horizon | prediction | CopyLastFrame | LinearExtrapolation | missing (pred.) | PSNR pred. | PSNR copy | SSIM pred. | SSIM copy |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    mean = errors["mean"]
    for j, horizon in enumerate(errors["horizons"]):
        lines.append(
            f"| {horizon} | {mean['prediction'][j]:.2f} | {mean['copy'][j]:.2f} | "
            f"{_fmt(mean['extrapolation'][j] if 'extrapolation' in mean else None)} | "
            f"{errors['missing_fraction']['prediction'][j]:.1%} | {image['psnr']['prediction'][j]:.2f} | "
            f"{image['psnr']['copy'][j]:.2f} | {image['ssim']['prediction'][j]:.3f} | {image['ssim']['copy'][j]:.3f} |"
        )
    lines += ["", "Last frame, paired over clips (`evaluation.compare`):", ""]
    lines += ["| comparison | mean a | mean b | a − b | 95% CI | ratio | paired t p | Wilcoxon p |",
              "|---|---:|---:|---:|---|---:|---:|---:|"]
    for name, c in errors["last_frame"].items():
        if c is None:
            lines.append(f"| {name.replace('_', ' ')} | – | – | – | – | – | – | – |")
            continue
        lines.append(
            f"| {name.replace('_', ' ')} | {c['mean_a']:.2f} | {c['mean_b']:.2f} | {c['mean_diff']:+.2f} | "
            f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] | {_fmt(c['ratio'], '.3f')} | {c['p_value']:.2g} | {c['p_wilcoxon']:.2g} |"
        )
    recall = results["action_recall"]
    lines += [
        "",
        "**Action recall** (the action a description states matches the clip's): "
        f"real video {_fmt(recall['real'], '.1%')}, generated video {_fmt(recall['generated'], '.1%')}, "
        f"VLM-written motion prompt {_fmt(recall['prompt'], '.1%')} (research, SSv2: 75% real, 70% generated). "
        "Counting a description only when it also names the label's objects: real "
        f"{_fmt(recall['with_objects']['real'], '.1%')}, generated {_fmt(recall['with_objects']['generated'], '.1%')}, "
        f"prompt {_fmt(recall['with_objects']['prompt'], '.1%')}. With the research's looser measure "
        "(`metrics.mentions_action`: the template's verb and the objects, any direction): real "
        f"{_fmt(recall['mentions']['real'], '.1%')}, generated {_fmt(recall['mentions']['generated'], '.1%')}.",
        "",
        "Per action (last frame; recall of the descriptions):",
        "",
        "| action | clips | prediction | CopyLastFrame | LinearExtrapolation | recall real | recall generated |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for action, row in errors["per_action"].items():
        lines.append(
            f"| {action} | {row['clips']} | {row['prediction']:.2f} | {row['copy']:.2f} | "
            f"{_fmt(row.get('extrapolation'))} | {_fmt(row['recall_real'], '.0%')} | {_fmt(row['recall_generated'], '.0%')} |"
        )
    lines += [
        "",
        "**Does the prompt matter?** The prediction's video metrics with each prompt:",
        "",
        "| prompt | centre error, last frame | vs copy (ratio, p) | missing, last | PSNR, last | SSIM, last | mean centre error |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for source, a in results["prompt_ablation"].items():
        c = a["last_frame_vs_copy"]
        versus = "–" if c is None else f"{_fmt(c['ratio'], '.3f')}, p = {c['p_value']:.2g}"
        lines.append(
            f"| {source} | {a['centre_error'][-1]:.2f} | {versus} | {a['missing_fraction'][-1]:.1%} | "
            f"{a['psnr'][-1]:.2f} | {a['ssim'][-1]:.3f} | {sum(a['centre_error']) / len(a['centre_error']):.2f} |"
        )
    lines += ["", "**Goals**:", ""]
    for goal in results["goals"]:
        status = {True: "met", False: "**missed**", None: "not measured"}[goal["met"]]
        lines.append(f"- {goal['goal']}: {status} ({goal['detail']})")
    return "\n".join(lines) + "\n"


def finite(data: Any) -> Any:
    """``data`` with every non-finite float replaced by ``None`` (strict JSON has no NaN or infinity)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(value) for value in data]
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    results = combine(args.combine) if args.combine is not None else run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(finite(results), indent=1, allow_nan=False))
    text = markdown(results)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text)
    print(text)
    for goal in results["goals"]:
        status = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[goal["met"]]
        print(f"{status}: {goal['goal']}: {goal['detail']}")
    return results


if __name__ == "__main__":
    main()
