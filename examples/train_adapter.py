"""Train an adapter that turns a clip's encoder tokens into the T5 prompt embeddings of its label.

This is the bridging objective without LTX-Video (``AdapterTask``): the adapter's tokens should stand
in for the prompt the video model was trained on. The frozen encoder's tokens and the label's T5
embeddings are cached once (``cache_features``); a ``QueryAdapter`` with one query per prompt token
then learns from the cache with the library's ``Trainer`` (checkpoints and resume in
``OUTPUT/checkpoints``, logs with the held-out scores in ``OUTPUT/logs.jsonl``, the adapter in
``OUTPUT/final/adapter``).

    python examples/train_adapter.py                                  # tiny hybrid encoder + tiny T5, CPU
    python examples/train_adapter.py --source patches                 # pixel patches instead of an encoder
    python examples/train_adapter.py --source hybrid --dino facebook/dinov2-large \\
        --vlm Qwen/Qwen2.5-VL-7B-Instruct --text-encoder Lightricks/LTX-Video --size 448 --max-length 128   # GPU

The same run from a config file: ``foresight train --config configs/examples/adapter.yaml``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from foresight_models.data import SyntheticMotion, collate_clips
from foresight_models.models.adapters import QueryAdapter
from foresight_models.training import Trainer
from foresight_models.training.cache import CachedFeatures, cache_features
from foresight_models.training.features import CombinedFeatures, HybridEncoderFeatures
from foresight_models.training.specs import DTYPES, LoadOptions, encoder_spec, prompt_spec
from foresight_models.training.tasks import AdapterTask


def source_section(args: argparse.Namespace) -> dict:
    if args.source == "patches":
        return {"kind": "patches", "patch_size": 8}
    if args.source == "tiny-hybrid":
        return {"kind": "hybrid", "dino": "tiny", "vlm": "tiny"}
    return {"kind": "hybrid", "dino": args.dino, "vlm": args.vlm, "dino_image_size": args.size,
            "qwen_image_size": args.size}  # fmt: skip


def target_section(args: argparse.Namespace) -> dict:
    if args.text_encoder == "tiny":
        return {"text_encoder": "tiny", "max_length": args.max_length}
    section = {"text_encoder": args.text_encoder, "max_length": args.max_length}
    if args.text_encoder == "Lightricks/LTX-Video" or Path(args.text_encoder, "text_encoder").is_dir():
        section.update(subfolder="text_encoder", tokenizer_subfolder="tokenizer")  # a pipeline repository
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["tiny-hybrid", "patches", "hybrid"], default="tiny-hybrid")
    parser.add_argument("--dino", default="facebook/dinov2-large")
    parser.add_argument("--vlm", default="Qwen/Qwen2.5-VL-7B-Instruct")
    parser.add_argument("--text-encoder", default="tiny", help="'tiny', a T5 checkpoint or an LTX-Video pipeline")
    parser.add_argument("--max-length", type=int, default=32, help="prompt tokens = adapter tokens (LTX: 128)")
    parser.add_argument("--local-files-only", action="store_true")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--clips", type=int, default=192)
    parser.add_argument("--held-out", type=int, default=48)
    parser.add_argument("--context-frames", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=100, help="held-out evaluation cadence (steps)")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--output-dir", type=Path, default=Path("runs/train_adapter"), help="the run folder")
    parser.add_argument("--resume", default="auto", help="auto (continue a run in --output-dir), never, or a checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and args.source != "hybrid":
        torch.set_num_threads(1)  # tiny models: more threads only add overhead

    options = LoadOptions(local_files_only=args.local_files_only, dtype=DTYPES.get(args.dtype))
    source = encoder_spec(source_section(args), "source", options)()
    prompts = prompt_spec(target_section(args), "target", options)()
    prompts.text_encoder.to(device)
    if isinstance(source, HybridEncoderFeatures):
        source.encoder.to(device)
        d_in = source.encoder.fusion.config.dim
    else:
        d_in = source.dim
    d_out = prompts.text_encoder.config.d_model
    torch.manual_seed(args.seed)
    adapter = QueryAdapter(d_in=d_in, d_out=d_out, num_tokens=args.max_length, dim=64, depth=2, heads=4, dim_head=16)
    task = AdapterTask(adapter, source=source, target=prompts, context_frames=args.context_frames).to(device)

    extractor = CombinedFeatures(source, prompts)  # one pass caches tokens and prompt embeddings
    root = args.output_dir / "cache"  # finished shards are kept: a second run skips the encoders
    start = time.perf_counter()
    frames = args.context_frames
    splits = {
        "train": SyntheticMotion(args.clips, frames=frames, size=args.size, seed=args.seed),
        "held_out": SyntheticMotion(args.held_out, frames=frames, size=args.size, seed=args.seed + 1000),
    }
    for name, clips in splits.items():
        cache_features(extractor, clips, root / name, batch_size=16, shard_size=128)
    print(f"cached features in {time.perf_counter() - start:.1f}s -> {root}")
    train = CachedFeatures(root / "train", encoder=extractor)
    test = CachedFeatures(root / "held_out", encoder=extractor)

    def held_out_scores() -> dict[str, float]:
        task.eval()
        device = next(task.adapter.parameters()).device
        with torch.no_grad():
            scores = [
                task.evaluate({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
                for batch in DataLoader(test, batch_size=32, collate_fn=collate_clips)
            ]
        return {key: sum(s[key] for s in scores) / len(scores) for key in scores[0]}

    before = held_out_scores()
    config = {
        "seed": args.seed,
        "output_dir": str(args.output_dir),
        "optim": {"lr": args.lr, "warmup_steps": max(1, args.steps // 20), "max_steps": args.steps,
                  "batch_size": args.batch_size, "mixed_precision": args.mixed_precision, "scheduler": "cosine"},
        "eval": {"every": args.eval_every, "batch_size": 32},
        "checkpoint": {"every": max(1, args.steps // 3), "keep_last": 2},
        "logging": {"every": 50, "progress_bar": False},
    }  # fmt: skip
    result = Trainer(task, train, config, eval_dataset=test).train(resume=args.resume)
    print(f"trained to step {result.step}; logs {result.output_dir / 'logs.jsonl'}, "
          f"adapter {result.final_dir / 'adapter'}")  # fmt: skip
    after = held_out_scores()
    print(f"held-out loss {before['loss']:.4f} -> {after['loss']:.4f}; "
          f"pooled cosine to the prompt {before['pooled_cosine']:.3f} -> {after['pooled_cosine']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
