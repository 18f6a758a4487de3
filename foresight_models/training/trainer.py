"""The training loop: a :class:`~foresight_models.training.TrainingTask` optimised with accelerate.

AdamW on the task's trainable parameters, warmup then a decaying learning rate
(``diffusers.optimization.get_scheduler``), gradient accumulation, clipping and mixed precision
(accelerate), an optional EMA of the weights (diffusers' ``EMAModel``), a progress bar, JSON-lines
logs (and tensorboard / wandb through accelerate's trackers), periodic evaluation, early stopping,
crash-safe checkpoints and exact resume: the model, optimizer, scheduler, EMA, RNG states and the
position in the data are restored, so a resumed run
produces the same batches, losses and weights as one that was never interrupted.

Under ``accelerate launch`` every process trains on its share of each batch (DDP through
``accelerator.prepare``); only the main process writes logs, checkpoints and the final export.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .checkpoint import CheckpointError, capture_rng_state, find_checkpoints, load_checkpoint, save_checkpoint
from .config import EvalConfig, RunConfig, load_config
from .datasets import build_dataset
from .sampler import ResumableSampler
from .task import TrainingTask

__all__ = ["TaskModule", "TrainResult", "Trainer", "build_trainer", "train"]

LOG_FILE = "logs.jsonl"
CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = "final"
CONFIG_FILE = "config.json"
#: accelerate distributed types that shard parameters; the loop refuses them (see docs/training.md).
SHARDED_TYPES = ("FSDP", "DEEPSPEED", "MEGATRON_LM")

EvalFn = Callable[[TrainingTask, Mapping[str, Any]], Mapping[str, float]]


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :meth:`Trainer.train`.

    Attributes:
        step: the last optimizer step.
        output_dir: the run folder (``checkpoints/``, ``logs.jsonl``, ``config.json``, ``final/``).
        final_dir: where the trained modules were exported (``task.save_pretrained``); ``None`` until
            the run is finished.
        finished: whether the run reached ``max_steps`` or stopped early (``False`` after ``until_step``).
        stopped_early: whether early stopping ended the run.
        resumed_from: the checkpoint the run continued from, if any.
        best_metric: the best value of the early-stopping metric seen (``None`` without evaluation).
        last_metrics: the last logged training values (``loss``, ``lr`` ...) and the last evaluation's.
    """

    step: int
    output_dir: Path
    final_dir: Path | None
    finished: bool = True
    stopped_early: bool = False
    resumed_from: Path | None = None
    best_metric: float | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)


class TaskModule(nn.Module):
    """Routes calls to a task through ``forward``, which DDP / FSDP wrappers need to synchronise gradients.

    ``forward(batch)`` returns the loss as a mapping with a ``"loss"`` entry;
    ``forward(batch, evaluate=True)`` returns the evaluation metrics of the batch (``eval_fn``, else
    ``task.evaluate`` when the task defines it, plus ``"loss"``).
    """

    def __init__(self, task: TrainingTask, eval_fn: EvalFn | None = None):
        super().__init__()
        self.task = task
        self.eval_fn = eval_fn

    def forward(self, batch: Mapping[str, Any], evaluate: bool = False) -> dict[str, Any]:
        if evaluate:
            return self._evaluate(batch)
        return loss_dict(self.task.loss(batch))

    def _evaluate(self, batch: Mapping[str, Any]) -> dict[str, float]:
        if self.eval_fn is not None:
            metrics = dict(self.eval_fn(self.task, batch))
        elif callable(getattr(self.task, "evaluate", None)):
            metrics = dict(self.task.evaluate(batch))
        else:
            metrics = {}
        if "loss" not in metrics:
            metrics["loss"] = loss_dict(self.task.loss(batch))["loss"]
        return {key: float(value) for key, value in metrics.items()}


def loss_dict(output: Any) -> dict[str, torch.Tensor]:
    """A task's ``loss(batch)`` as ``{"loss": scalar, **extra scalars}``."""
    if isinstance(output, torch.Tensor):
        output = {"loss": output}
    if not isinstance(output, Mapping) or "loss" not in output:
        raise TypeError(f"task.loss(batch) must return a scalar tensor or a mapping with a 'loss' entry, got {output!r}")
    loss = output["loss"]
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"task.loss(batch)['loss'] must be a scalar tensor, got {getattr(loss, 'shape', loss)!r}")
    return dict(output)


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config values as flat scalars (what tensorboard's hyper-parameter view takes)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, (int, float, str, bool)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


class Trainer:
    """Train a task on a dataset as a run configuration says.

    Args:
        task: what to train (its ``trainable_parameters()`` are optimised, its ``loss(batch)`` minimised).
        train_dataset: a map-style dataset of dict items.
        config: a :class:`~foresight_models.training.RunConfig`, a mapping or a config file
            (:func:`~foresight_models.training.load_config`); its ``task`` and ``data`` sections
            are not used here (the task and dataset are given).
        eval_dataset: held-out data (default: built from ``config.eval`` when it names data).
        eval_fn: ``eval_fn(task, batch) -> {name: float}`` used instead of ``task.evaluate``.
        collate_fn: batches items (default: the task's ``collate(items)`` if it has one, run in the
            DataLoader's workers, else :func:`foresight_models.data.collate_clips`).

    Example::

        result = Trainer(task, SyntheticMotion(256, frames=8, size=64), {"output_dir": "runs/x",
                         "optim": {"max_steps": 300, "batch_size": 8}}).train(resume="auto")
    """

    def __init__(
        self,
        task: TrainingTask,
        train_dataset: Dataset,
        config: RunConfig | Mapping[str, Any] | str | os.PathLike,
        *,
        eval_dataset: Dataset | None = None,
        eval_fn: EvalFn | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ):
        if not isinstance(task, TrainingTask):
            raise TypeError(f"task: expected a TrainingTask, got {type(task).__name__}")
        if not hasattr(train_dataset, "__len__") or not hasattr(train_dataset, "__getitem__"):
            raise TypeError(f"train_dataset: expected a map-style Dataset, got {type(train_dataset).__name__}")
        if eval_fn is not None and not callable(eval_fn):
            raise TypeError(f"eval_fn: expected a callable (task, batch) -> dict, got {type(eval_fn).__name__}")
        self.config = config if isinstance(config, RunConfig) else load_config(config)
        if len(train_dataset) == 0:
            raise ValueError("train_dataset: the dataset is empty")
        per_step = self.config.optim.batch_size * self.config.optim.gradient_accumulation_steps
        if len(train_dataset) < per_step:
            raise ValueError(
                f"train_dataset: {len(train_dataset)} samples do not fill one optimizer step of optim.batch_size "
                f"{self.config.optim.batch_size} x optim.gradient_accumulation_steps "
                f"{self.config.optim.gradient_accumulation_steps} = {per_step} samples"
            )
        if not any(True for _ in task.trainable_parameters()):
            raise ValueError(f"task: {type(task).__name__}.trainable_parameters() yields no parameters to train")
        if eval_dataset is None and self.config.eval is not None and self.config.eval.data is not None:
            eval_dataset = build_dataset(self.config.eval.data, "eval")
        self.task = task
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.eval_fn = eval_fn
        if collate_fn is None:
            from ..data.datasets import collate_clips

            collate_fn = getattr(task, "collate", None) or collate_clips
        self.collate_fn = collate_fn
        self._trackers = self._check_trackers()

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)

    def _check_trackers(self) -> list[str]:
        from accelerate.utils import is_tensorboard_available, is_wandb_available

        trackers = []
        for name, asked, available in (
            ("tensorboard", self.config.logging.tensorboard, is_tensorboard_available),
            ("wandb", self.config.logging.wandb, is_wandb_available),
        ):
            if asked:
                if not available():
                    raise ValueError(f"logging.{name}: {name} is not installed; install it or set logging.{name}: false")
                trackers.append(name)
        return trackers

    # ------------------------------------------------------------------------------------------ run

    def train(
        self, *, resume: str | os.PathLike = "auto", until_step: int | None = None, time_limit: float | None = None
    ) -> TrainResult:
        """Run (or continue) training to ``optim.max_steps``, then export ``task.save_pretrained(output_dir/"final")``.

        Args:
            resume: ``"auto"`` continues from the newest checkpoint in ``output_dir/checkpoints``
                that verifies (corrupt ones are skipped with a warning) or starts afresh when there
                is none; ``"never"`` starts afresh and refuses a folder that already holds
                checkpoints; a path continues from that checkpoint.
            until_step: stop after this step with a checkpoint, as if interrupted (the schedule
                still runs to ``max_steps``); a later call continues. Splits a long run into jobs
                of bounded length. The final export happens once ``max_steps`` is reached.
            time_limit: stop with a checkpoint at the first step that ends more than this many
                seconds after the call began, as with ``until_step`` (a job under a wall-clock limit).
        """
        from accelerate import Accelerator
        from accelerate.utils import gather_object, send_to_device, set_seed
        from diffusers.optimization import get_scheduler
        from tqdm.auto import tqdm

        from .._validation import check_int, check_real

        started = time.perf_counter()
        if time_limit is not None:
            time_limit = check_real(time_limit, "time_limit", minimum=0.0, min_inclusive=False)
        cfg = self.config
        optim = cfg.optim
        stop_at = optim.max_steps if until_step is None else min(check_int(until_step, "until_step"), optim.max_steps)
        checkpoints = self.output_dir / CHECKPOINT_DIR
        if isinstance(resume, str) and resume == "never" and find_checkpoints(checkpoints):
            raise CheckpointError(
                f"resume='never' but {checkpoints} already holds checkpoints of an earlier run; "
                "continue it with resume='auto' or choose another output_dir"
            )
        accelerator = Accelerator(
            mixed_precision=optim.mixed_precision,
            gradient_accumulation_steps=optim.gradient_accumulation_steps,
            log_with=self._trackers or None,
            project_dir=str(self.output_dir) if self._trackers else None,
        )
        main = accelerator.is_main_process
        if accelerator.distributed_type.value in SHARDED_TYPES:
            raise NotImplementedError(
                f"accelerate is configured for {accelerator.distributed_type.value}, which this loop does not run: "
                "its checkpoints, EMA, gradient clipping and final export read and write whole (unsharded) "
                "modules on the main process, and sharded training is untested (accelerate enables FSDP only on "
                "GPUs and other accelerators, never on CPU). Launch with DDP instead "
                "(accelerate launch --multi_gpu --num_processes N -m foresight_models.cli train --config ...), "
                "which holds the 1B head + decoder on one 80 GB GPU; docs/training.md ('Sharded training') says "
                "what FSDP support needs"
            )
        set_seed(cfg.seed, device_specific=True)

        module = TaskModule(self.task, self.eval_fn)
        parameters = list(self.task.trainable_parameters())
        optimizer = torch.optim.AdamW(
            parameters, lr=optim.lr, betas=optim.betas, eps=optim.eps, weight_decay=optim.weight_decay
        )
        scheduler = get_scheduler(
            optim.scheduler, optimizer, num_warmup_steps=optim.warmup_steps, num_training_steps=optim.max_steps
        )
        module, optimizer = accelerator.prepare(module, optimizer)
        ema = None
        if optim.ema_decay is not None:
            from diffusers.training_utils import EMAModel

            ema = EMAModel(parameters, decay=optim.ema_decay)
        sampler = ResumableSampler(
            len(self.train_dataset),
            batch_size=optim.batch_size,
            seed=cfg.seed,
            num_replicas=accelerator.num_processes,
            rank=accelerator.process_index,
            batches_per_step=optim.gradient_accumulation_steps,
        )
        # a loader-owned generator, reseeded every epoch: creating an iterator then draws nothing
        # from the global RNG, so a resumed run's RNG stream matches an uninterrupted one's
        generator = torch.Generator()
        loader = DataLoader(
            self.train_dataset,
            batch_size=optim.batch_size,
            sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=optim.num_workers,
            generator=generator,
        )
        eval_loader = self._eval_loader(accelerator)

        try:
            restored = load_checkpoint(
                checkpoints,
                model=self.task,
                optimizer=optimizer,
                scheduler=scheduler,
                sampler=sampler,
                ema=ema,
                resume=resume,
                process_index=accelerator.process_index,
            )
        except ValueError as error:  # the data position does not fit this run's data or batch size
            raise CheckpointError(f"cannot resume from {checkpoints}: {error}") from error
        step = 0 if restored is None else restored.step
        early = dict((restored.extra if restored else {}).get("early_stopping") or {})
        best = early.get("best")
        bad_evals = int(early.get("bad_evals", 0))
        stopped_early = bool(early.get("stopped", False))
        if main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / CONFIG_FILE).write_text(json.dumps(cfg.to_dict(), indent=1) + "\n", encoding="utf-8")
            self._start_log(restored)
        if self._trackers:
            accelerator.init_trackers(self.output_dir.name or "foresight", config=_flat(cfg.to_dict()))

        log_file = self.output_dir / LOG_FILE
        es = cfg.early_stopping
        last: dict[str, float] = {}
        running: dict[str, float] = {}
        micro_batches = 0
        grad_norm: float | None = None
        timer, samples = time.perf_counter(), 0
        progress = tqdm(
            total=optim.max_steps,
            initial=step,
            desc="train",
            unit="step",
            file=sys.stderr,
            disable=not (main and cfg.logging.progress_bar),
            dynamic_ncols=True,
        )

        def write(record: dict[str, Any]) -> None:
            if main:
                with open(log_file, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            numbers = {k: v for k, v in record.items() if isinstance(v, (int, float)) and k not in ("step", "epoch")}
            if self._trackers and numbers:
                prefix = "eval/" if record["event"] == "eval" else "train/"
                accelerator.log({prefix + k.removeprefix("eval_"): v for k, v in numbers.items()}, step=record["step"])

        def checkpoint() -> None:
            rng_states = gather_object([capture_rng_state()])
            if main:
                save_checkpoint(
                    checkpoints,
                    step=step,
                    model=self.task,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    sampler=sampler,
                    ema=ema,
                    rng_states=rng_states,
                    keep_last=cfg.checkpoint.keep_last,
                    early_stopping={"best": best, "bad_evals": bad_evals, "stopped": stopped_early},
                )
            accelerator.wait_for_everyone()

        module.train()
        while step < stop_at and not stopped_early:
            if sampler.position >= sampler.batches_per_epoch:
                sampler.set_epoch(sampler.epoch + 1)
            generator.manual_seed(cfg.seed * 100_003 + sampler.epoch)
            for batch in loader:
                batch = send_to_device(batch, accelerator.device)
                with accelerator.accumulate(module):
                    output = module(batch)
                    loss = output["loss"]
                    if not torch.isfinite(loss.detach()):
                        raise FloatingPointError(f"the loss is {loss.item()} at step {step + 1}")
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and optim.max_grad_norm is not None:
                        grad_norm = float(accelerator.clip_grad_norm_(parameters, optim.max_grad_norm))
                    optimizer.step()
                    optimizer.zero_grad()
                sampler.advance()
                micro_batches += 1
                samples += sampler.global_batch_size
                for key, value in output.items():
                    if isinstance(value, torch.Tensor) and value.numel() == 1:
                        running[key] = running.get(key, 0.0) + float(value.detach())
                if not accelerator.sync_gradients:
                    continue
                if not accelerator.optimizer_step_was_skipped:
                    scheduler.step()
                    if ema is not None:
                        ema.step(parameters)
                step += 1
                progress.update(1)
                if time_limit is not None and _out_of_time(accelerator, started, time_limit):
                    stop_at = step

                if step % cfg.logging.every == 0 or step == optim.max_steps:
                    keys = sorted(running)
                    means = torch.tensor([running[k] / micro_batches for k in keys], device=accelerator.device)
                    means = accelerator.reduce(means, reduction="mean").tolist() if accelerator.num_processes > 1 else means.tolist()
                    elapsed = max(time.perf_counter() - timer, 1e-9)
                    record = {"event": "train", "step": step, "epoch": sampler.epoch, **dict(zip(keys, means))}
                    record["lr"] = scheduler.get_last_lr()[0]
                    if grad_norm is not None:
                        record["grad_norm"] = grad_norm
                    record["samples_per_s"] = samples / elapsed
                    write(record)
                    progress.set_postfix(loss=f"{record['loss']:.4g}", samples_s=f"{record['samples_per_s']:.1f}")
                    last.update({k: v for k, v in record.items() if k not in ("event", "step", "epoch")})
                    running, micro_batches, timer, samples = {}, 0, time.perf_counter(), 0

                if eval_loader is not None and step % cfg.eval.every == 0:
                    with _averaged(ema, parameters):
                        metrics = self._evaluate(module, eval_loader, accelerator)
                    module.train()
                    write({"event": "eval", "step": step, **metrics})
                    last.update(metrics)
                    if es.patience is not None:
                        if es.metric not in metrics:
                            raise KeyError(
                                f"early_stopping.metric: {es.metric!r} is not among the evaluation metrics "
                                f"{sorted(metrics)}"
                            )
                        value = metrics[es.metric]
                        sign = 1.0 if es.mode == "min" else -1.0
                        if best is None or sign * (best - value) > es.min_delta:
                            best, bad_evals = value, 0
                        else:
                            bad_evals += 1
                            if bad_evals >= es.patience:
                                stopped_early = True
                                write({"event": "early_stop", "step": step, es.metric: value, "best": best})

                if step % cfg.checkpoint.every == 0 or step == stop_at or stopped_early:
                    checkpoint()
                if step >= stop_at or stopped_early:
                    break
        progress.close()

        finished = step >= optim.max_steps or stopped_early
        final_dir = self.output_dir / FINAL_DIR
        if main and finished:
            with _averaged(ema, parameters):
                self.task.save_pretrained(final_dir)
        accelerator.wait_for_everyone()
        if self._trackers:
            accelerator.end_training()
        return TrainResult(
            step=step,
            output_dir=self.output_dir,
            final_dir=final_dir if finished else None,
            finished=finished,
            stopped_early=stopped_early,
            resumed_from=None if restored is None else restored.path,
            best_metric=best,
            last_metrics=last,
        )

    # -------------------------------------------------------------------------------------- helpers

    def _start_log(self, restored: Any) -> None:
        """A fresh ``logs.jsonl``, or on resume the records up to the checkpoint's step (later ones were
        written by the interrupted run and are written again) followed by a ``resume`` record."""
        log_file = self.output_dir / LOG_FILE
        kept: list[str] = []
        if restored is not None and log_file.is_file():
            for line in log_file.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by the crash
                    continue
                if isinstance(record, dict) and record.get("step", math.inf) <= restored.step:
                    kept.append(line)
        if restored is not None:
            kept.append(json.dumps({"event": "resume", "step": restored.step, "checkpoint": str(restored.path)}))
        tmp = log_file.with_name(f".{LOG_FILE}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, log_file)

    def _eval_loader(self, accelerator: Any) -> DataLoader | None:
        if self.eval_dataset is None:
            return None
        if self.config.eval is None:
            warnings.warn("eval_dataset is given but the config has no eval section; evaluating every 100 steps", stacklevel=3)
            self.config = _with_eval(self.config, EvalConfig(data=None))
        batch_size = self.config.eval.batch_size or self.config.optim.batch_size
        # every process evaluates its own share; sums are combined across processes
        indices = list(range(accelerator.process_index, len(self.eval_dataset), accelerator.num_processes))
        return DataLoader(
            torch.utils.data.Subset(self.eval_dataset, indices),
            batch_size=batch_size,
            shuffle=False,
            collate_fn=self.collate_fn,
            num_workers=self.config.optim.num_workers,
        )

    def _evaluate(self, module: nn.Module, loader: DataLoader, accelerator: Any) -> dict[str, float]:
        """Metrics averaged over the held-out samples, under a fixed seed (evaluation neither varies between
        evaluations nor disturbs the training RNG stream)."""
        from accelerate.utils import send_to_device

        # the unwrapped module: evaluation needs no gradient synchronisation, and processes may hold
        # different numbers of held-out batches (a DDP forward could wait for the others)
        module = accelerator.unwrap_model(module)
        module.eval()
        sums: dict[str, float] = {}
        count = 0
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(self.config.seed)
            for batch in loader:
                size = _batch_size(batch)
                with accelerator.autocast():
                    metrics = module(send_to_device(batch, accelerator.device), evaluate=True)
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + float(value) * size
                count += size
        keys = sorted(sums)
        totals = torch.tensor([*(sums[k] for k in keys), float(count)], dtype=torch.float64, device=accelerator.device)
        if accelerator.num_processes > 1:
            keys = _same_keys(keys, accelerator)
            totals = accelerator.reduce(totals, reduction="sum")
        totals = totals.tolist()
        return {f"eval_{key}": totals[i] / max(totals[-1], 1.0) for i, key in enumerate(keys)}


@contextlib.contextmanager
def _averaged(ema: Any, parameters: list[nn.Parameter]) -> Iterator[None]:
    """The EMA weights in place of the trained ones inside the block (nothing changes without an EMA)."""
    if ema is None:
        yield
        return
    ema.store(parameters)
    ema.copy_to(parameters)
    try:
        yield
    finally:
        ema.restore(parameters)


def _same_keys(keys: list[str], accelerator: Any) -> list[str]:
    from accelerate.utils import gather_object

    every = gather_object([keys])
    if any(other != keys for other in every):
        raise RuntimeError(f"evaluation metrics differ between processes: {every}")
    return keys


def _batch_size(batch: Any) -> int:
    if isinstance(batch, Mapping):
        for value in batch.values():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                return int(value.shape[0])
            if isinstance(value, list):
                return len(value)
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    raise TypeError(f"cannot tell the batch size of a {type(batch).__name__} batch; use dict batches of tensors")


def _out_of_time(accelerator: Any, started: float, time_limit: float) -> bool:
    """Whether any process has run past ``time_limit`` seconds (every process gets the same answer)."""
    late = torch.tensor([float(time.perf_counter() - started > time_limit)], device=accelerator.device)
    if accelerator.num_processes > 1:
        late = accelerator.reduce(late, reduction="sum")
    return bool(late.item() > 0)


def _with_eval(config: RunConfig, evaluation: EvalConfig) -> RunConfig:
    import dataclasses

    return dataclasses.replace(config, eval=evaluation)


def build_trainer(config: RunConfig | Mapping[str, Any] | str | os.PathLike) -> Trainer:
    """The :class:`Trainer` a run configuration describes: its datasets and task built and checked.

    The task comes from ``foresight_models.training.tasks.build_task(config.task)`` (built after
    seeding with ``config.seed``, so its initial weights are reproducible); the datasets from
    :func:`~foresight_models.training.build_dataset`.

    Raises:
        ValueError, TypeError, FileNotFoundError: a bad or incomplete configuration.
    """
    from accelerate.utils import set_seed

    config = config if isinstance(config, RunConfig) else load_config(config)
    if not config.task:
        raise ValueError("task: the config has no task section (e.g. task: {name: head, ...})")
    if not config.data:
        raise ValueError("data: the config has no data section (e.g. data: {kind: synthetic, num_clips: 256})")
    train_dataset = build_dataset(config.data, "data")
    eval_dataset = None
    if config.eval is not None and config.eval.data is not None:
        eval_dataset = build_dataset(config.eval.data, "eval")
    from .tasks import build_task  # the task registry; imported here so the loop does not depend on it

    set_seed(config.seed)
    task = build_task(config.task)
    return Trainer(task, train_dataset, config, eval_dataset=eval_dataset)


def train(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike,
    *,
    resume: str | os.PathLike = "auto",
    until_step: int | None = None,
    time_limit: float | None = None,
) -> TrainResult:
    """Train what a run configuration describes: ``build_trainer(config).train(resume=..., until_step=...)``.

    Args:
        config: a config file (YAML or JSON), a mapping or a :class:`~foresight_models.training.RunConfig`.
        resume, until_step, time_limit: as :meth:`Trainer.train`.
    """
    return build_trainer(config).train(resume=resume, until_step=until_step, time_limit=time_limit)
