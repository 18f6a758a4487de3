"""Training: feature caching, the accelerate training loop, crash-safe checkpoints, flow matching for LTX-Video."""

from __future__ import annotations

from .checkpoint import (
    CheckpointError,
    RestoredCheckpoint,
    capture_rng_state,
    find_checkpoints,
    load_checkpoint,
    model_state_dict,
    restore_rng_state,
    save_checkpoint,
    verify_checkpoint,
)
from .config import (
    CheckpointConfig,
    EarlyStoppingConfig,
    EvalConfig,
    LoggingConfig,
    OptimConfig,
    RunConfig,
    load_config,
)
from .datasets import JoinedClips, build_dataset, check_data_section
from .sampler import ResumableSampler
from .task import TrainingTask
from .trainer import TaskModule, Trainer, TrainResult, build_trainer, train

__all__ = [
    "TrainingTask",
    # the loop, its configuration, checkpoints and datasets from config sections
    "CheckpointConfig",
    "CheckpointError",
    "EarlyStoppingConfig",
    "EvalConfig",
    "JoinedClips",
    "LoggingConfig",
    "OptimConfig",
    "ResumableSampler",
    "RestoredCheckpoint",
    "RunConfig",
    "TaskModule",
    "TrainResult",
    "Trainer",
    "build_dataset",
    "build_trainer",
    "capture_rng_state",
    "check_data_section",
    "find_checkpoints",
    "load_checkpoint",
    "load_config",
    "model_state_dict",
    "restore_rng_state",
    "save_checkpoint",
    "train",
    "verify_checkpoint",
]
