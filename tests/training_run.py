"""Train the tiny task from the command line, for the crash and multi-process tests.

    python tests/training_run.py OUTPUT_DIR --max-steps 12 --every 4 [--until-step N]
    accelerate launch --cpu --num_processes 2 tests/training_run.py OUTPUT_DIR ...

With ``--kill-at-step S``, the process kills itself with SIGKILL while it writes the checkpoint of
step S, after part of its model file is on disk: a real crash in the middle of a save.
With ``--dump-weights``, every process writes its copy of the trained weights to
``OUTPUT_DIR/weights-<rank>.safetensors``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(1)

from training_tiny import NextFrameTask, tiny_config, tiny_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--until-step", type=int, default=None)
    parser.add_argument("--kill-at-step", type=int, default=None)
    parser.add_argument("--dump-weights", action="store_true")
    args = parser.parse_args()

    import safetensors.torch

    from foresight_models.training import Trainer, model_state_dict
    from foresight_models.training import trainer as trainer_module

    if args.kill_at_step is not None:
        saving = {}
        original_save = trainer_module.save_checkpoint
        original_save_file = safetensors.torch.save_file

        def save_checkpoint(directory, *, step, **kwargs):
            saving["step"] = step
            return original_save(directory, step=step, **kwargs)

        def save_file(tensors, filename, *a, **kw):
            original_save_file(tensors, filename, *a, **kw)
            if saving.get("step") == args.kill_at_step and filename.endswith("model.safetensors"):
                with open(filename, "r+b") as handle:  # leave half of the file on disk, as a crash mid-write does
                    handle.truncate(os.path.getsize(filename) // 2)
                os.kill(os.getpid(), signal.SIGKILL)

        trainer_module.save_checkpoint = save_checkpoint
        safetensors.torch.save_file = save_file

    task = NextFrameTask()
    config = tiny_config(args.output_dir, max_steps=args.max_steps, every=args.every)
    Trainer(task, tiny_dataset(), config).train(resume="auto", until_step=args.until_step)
    if args.dump_weights:
        rank = int(os.environ.get("RANK", "0"))
        path = os.path.join(args.output_dir, f"weights-{rank}.safetensors")
        safetensors.torch.save_file(model_state_dict(task), path)


if __name__ == "__main__":
    main()
