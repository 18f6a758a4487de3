"""The run configuration of ``foresight train``: one YAML or JSON file per run, validated into dataclasses.

Example (``foresight train`` needs ``output_dir``, ``task`` and ``data``; the other sections are optional)::

    seed: 0
    output_dir: runs/head            # checkpoints/, logs.jsonl, config.json, final/
    task: {name: head, ...}          # passed as is to training.tasks.build_task
    data: {kind: synthetic, num_clips: 256, frames: 8, size: 64, seed: 0}
    eval: {kind: synthetic, num_clips: 64, seed: 1, every: 100}
    optim: {lr: 1e-3, weight_decay: 0.0, warmup_steps: 10, max_steps: 300, batch_size: 8,
            gradient_accumulation_steps: 1, max_grad_norm: 1.0, mixed_precision: "no", scheduler: cosine}
    checkpoint: {every: 50, keep_last: 3}
    logging: {every: 10, tensorboard: false, wandb: false}
    early_stopping: {patience: null, metric: eval_loss}

Every key is checked when the file is loaded, before any work: an unknown key, a value of the wrong
type or out of range, or a data path that does not exist raise an error naming the key. The
``task`` section is checked by the task builder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_bool, check_choice, check_int, check_keys, check_real
from .datasets import check_data_section

__all__ = [
    "CheckpointConfig",
    "EarlyStoppingConfig",
    "EvalConfig",
    "LoggingConfig",
    "OptimConfig",
    "RunConfig",
    "load_config",
]

#: Learning-rate schedules (names of ``diffusers.optimization.get_scheduler``).
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
MIXED_PRECISION = ("no", "fp16", "bf16")


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation: AdamW, a warmup + decay schedule, gradient accumulation and clipping.

    Attributes:
        lr, weight_decay, betas, eps: AdamW's.
        warmup_steps: linear warmup steps (``<= max_steps``).
        max_steps: optimizer steps of the run.
        batch_size: samples per process and micro-batch.
        gradient_accumulation_steps: micro-batches per optimizer step.
        max_grad_norm: clip the gradient norm to this (``None``: no clipping).
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"`` (accelerate's).
        scheduler: the schedule after warmup (``diffusers.optimization.get_scheduler`` names).
        num_workers: DataLoader worker processes.
        ema_decay: keep an exponential moving average of the trainable parameters with this decay
            (``diffusers.training_utils.EMAModel``; ``None``: no EMA). Evaluation and the final export
            then use the averaged weights; checkpoints hold both.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    max_steps: int = 1000
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_grad_norm: float | None = 1.0
    mixed_precision: str = "no"
    scheduler: str = "cosine"
    num_workers: int = 0
    ema_decay: float | None = None


@dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation every ``every`` steps on ``data`` (a dataset section, like the top-level ``data``).

    In the file the dataset keys and ``every`` / ``batch_size`` share one section; ``data`` is
    ``None`` when the section names no dataset (the held-out set is then given to the ``Trainer``).
    ``batch_size`` defaults to ``optim.batch_size``.
    """

    data: dict[str, Any] | None
    every: int = 100
    batch_size: int | None = None


@dataclass(frozen=True)
class CheckpointConfig:
    """A checkpoint every ``every`` steps (and at the end); the newest ``keep_last`` are kept (``None``: all)."""

    every: int = 500
    keep_last: int | None = 3


@dataclass(frozen=True)
class LoggingConfig:
    """Log every ``every`` steps to ``logs.jsonl`` (and tensorboard / wandb when asked and installed)."""

    every: int = 10
    tensorboard: bool = False
    wandb: bool = False
    progress_bar: bool = True


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Stop when ``metric`` has not improved by more than ``min_delta`` for ``patience`` evaluations (``None``: never)."""

    patience: int | None = None
    metric: str = "eval_loss"
    mode: str = "min"
    min_delta: float = 0.0


@dataclass(frozen=True)
class RunConfig:
    """One training run.

    ``task`` and ``data`` may be ``None`` when a :class:`~foresight_models.training.Trainer` is given
    the task and the dataset directly; :func:`~foresight_models.training.train` needs both.
    """

    output_dir: str
    task: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    seed: int = 0
    eval: EvalConfig | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as the file's sections (``load_config(config.to_dict())`` gives it back)."""
        out = dataclasses.asdict(self)
        if self.eval is not None:
            out["eval"] = {**(self.eval.data or {}), "every": self.eval.every, "batch_size": self.eval.batch_size}
        out["optim"]["betas"] = list(self.optim.betas)
        return out


# ----------------------------------------------------------------------------------------- loading

_TOP_LEVEL = ("seed", "output_dir", "task", "data", "eval", "optim", "checkpoint", "logging", "early_stopping")


def _section(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a mapping of keys to values, got {value!r} ({type(value).__name__})")
    return dict(value)


def _optional_int(value: Any, name: str, minimum: int) -> int | None:
    return None if value is None else check_int(value, name, minimum=minimum)


def _optim(section: dict[str, Any]) -> OptimConfig:
    allowed = tuple(f.name for f in dataclasses.fields(OptimConfig))
    check_keys(section, "optim", allowed)
    values = {**dataclasses.asdict(OptimConfig()), **section}
    betas = values["betas"]
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise TypeError(f"optim.betas: expected a pair of numbers in [0, 1), got {betas!r}")
    config = OptimConfig(
        lr=check_real(values["lr"], "optim.lr", minimum=0.0, min_inclusive=False),
        weight_decay=check_real(values["weight_decay"], "optim.weight_decay", minimum=0.0),
        betas=(
            check_real(betas[0], "optim.betas[0]", minimum=0.0, maximum=1.0, max_inclusive=False),
            check_real(betas[1], "optim.betas[1]", minimum=0.0, maximum=1.0, max_inclusive=False),
        ),
        eps=check_real(values["eps"], "optim.eps", minimum=0.0, min_inclusive=False),
        warmup_steps=check_int(values["warmup_steps"], "optim.warmup_steps", minimum=0),
        max_steps=check_int(values["max_steps"], "optim.max_steps", minimum=1),
        batch_size=check_int(values["batch_size"], "optim.batch_size", minimum=1),
        gradient_accumulation_steps=check_int(
            values["gradient_accumulation_steps"], "optim.gradient_accumulation_steps", minimum=1
        ),
        max_grad_norm=None
        if values["max_grad_norm"] is None
        else check_real(values["max_grad_norm"], "optim.max_grad_norm", minimum=0.0, min_inclusive=False),
        mixed_precision=check_choice(values["mixed_precision"], "optim.mixed_precision", MIXED_PRECISION),
        scheduler=check_choice(values["scheduler"], "optim.scheduler", SCHEDULERS),
        num_workers=check_int(values["num_workers"], "optim.num_workers", minimum=0),
        ema_decay=None
        if values["ema_decay"] is None
        else check_real(
            values["ema_decay"], "optim.ema_decay", minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False
        ),
    )
    if config.warmup_steps > config.max_steps:
        raise ValueError(
            f"optim.warmup_steps: expected at most optim.max_steps={config.max_steps}, got {config.warmup_steps}"
        )
    return config


def _eval(section: dict[str, Any]) -> EvalConfig | None:
    if not section:
        return None
    every = section.pop("every", 100)
    batch_size = section.pop("batch_size", None)
    data = check_data_section(section, "eval", extra_keys=("every", "batch_size")) if section else None
    return EvalConfig(
        data=data,
        every=check_int(every, "eval.every", minimum=1),
        batch_size=_optional_int(batch_size, "eval.batch_size", 1),
    )


def _checkpoint(section: dict[str, Any]) -> CheckpointConfig:
    check_keys(section, "checkpoint", tuple(f.name for f in dataclasses.fields(CheckpointConfig)))
    values = {**dataclasses.asdict(CheckpointConfig()), **section}
    return CheckpointConfig(
        every=check_int(values["every"], "checkpoint.every", minimum=1),
        keep_last=_optional_int(values["keep_last"], "checkpoint.keep_last", 1),
    )


def _logging(section: dict[str, Any]) -> LoggingConfig:
    check_keys(section, "logging", tuple(f.name for f in dataclasses.fields(LoggingConfig)))
    values = {**dataclasses.asdict(LoggingConfig()), **section}
    return LoggingConfig(
        every=check_int(values["every"], "logging.every", minimum=1),
        tensorboard=check_bool(values["tensorboard"], "logging.tensorboard"),
        wandb=check_bool(values["wandb"], "logging.wandb"),
        progress_bar=check_bool(values["progress_bar"], "logging.progress_bar"),
    )


def _early_stopping(section: dict[str, Any], has_eval: bool) -> EarlyStoppingConfig:
    check_keys(section, "early_stopping", tuple(f.name for f in dataclasses.fields(EarlyStoppingConfig)))
    values = {**dataclasses.asdict(EarlyStoppingConfig()), **section}
    metric = values["metric"]
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"early_stopping.metric: expected the name of an evaluation metric, got {metric!r}")
    config = EarlyStoppingConfig(
        patience=_optional_int(values["patience"], "early_stopping.patience", 1),
        metric=metric,
        mode=check_choice(values["mode"], "early_stopping.mode", ("min", "max")),
        min_delta=check_real(values["min_delta"], "early_stopping.min_delta", minimum=0.0),
    )
    if config.patience is not None and not has_eval:
        raise ValueError("early_stopping.patience: early stopping needs an eval section (held-out data and its cadence)")
    return config


def _yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML 1.1 reads ``1e-3`` as a string; this loader reads it as a number, as YAML 1.2 and JSON do."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return Loader


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The raw mapping of a ``.yaml`` / ``.yml`` / ``.json`` config file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: no such file: {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"config: {str(path)!r} is not valid JSON: {error}") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as error:
            raise ValueError(f"config: {str(path)!r} is not valid YAML: {error}") from None
    else:
        raise ValueError(f"config: expected a .yaml, .yml or .json file, got {str(path)!r}")
    if not isinstance(data, Mapping):
        raise TypeError(f"config: {str(path)!r} must hold a mapping of sections, got {type(data).__name__}")
    return dict(data)


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    source: str | os.PathLike | Mapping[str, Any] | RunConfig, *, overrides: Mapping[str, Any] | None = None
) -> RunConfig:
    """Read and validate a run configuration.

    Args:
        source: a ``.yaml`` / ``.yml`` / ``.json`` file, a mapping of sections, or a ``RunConfig``.
        overrides: sections merged over the file's before validation, e.g.
            ``{"optim": {"max_steps": 10}, "output_dir": "runs/x"}`` (what ``foresight train``'s
            ``--max-steps`` and ``--output-dir`` do).

    Raises:
        ValueError: an unknown key (the message names it and the allowed ones), a missing section,
            a value out of range.
        TypeError: a value of the wrong type.
        FileNotFoundError: the file, or a data path it names, does not exist.
    """
    if isinstance(source, RunConfig):
        source = source.to_dict()
    if isinstance(source, Mapping):
        raw = dict(source)
    elif isinstance(source, (str, os.PathLike)):
        raw = read_config_file(source)
    else:
        raise TypeError(f"source: expected a config file path, a mapping or a RunConfig, got {type(source).__name__}")
    if overrides is not None:
        raw = _merge(raw, overrides)
    check_keys(raw, "", _TOP_LEVEL)
    output_dir = raw.get("output_dir")
    if output_dir is None:
        raise ValueError("output_dir: missing; the config must name the run folder (output_dir: runs/<name>)")
    if not isinstance(output_dir, (str, os.PathLike)) or not os.fspath(output_dir):
        raise TypeError(f"output_dir: expected a folder path, got {output_dir!r}")
    task = _section(raw, "task") or None
    if task is not None and not isinstance(task.get("name"), str):
        raise ValueError(f"task.name: expected the name of a training task (e.g. 'head'), got {task.get('name')!r}")
    data = check_data_section(_section(raw, "data"), "data") if raw.get("data") is not None else None
    evaluation = _eval(_section(raw, "eval"))
    return RunConfig(
        output_dir=os.fspath(output_dir),
        task=task,
        data=data,
        seed=check_int(raw.get("seed", 0), "seed", minimum=0),
        eval=evaluation,
        optim=_optim(_section(raw, "optim")),
        checkpoint=_checkpoint(_section(raw, "checkpoint")),
        logging=_logging(_section(raw, "logging")),
        early_stopping=_early_stopping(_section(raw, "early_stopping"), evaluation is not None),
    )
