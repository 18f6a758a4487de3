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
from .flow_matching import LTXFlowMatchingOutput, ltx_i2v_flow_matching_loss  # LTX-Video flow matching
from .ltx import LTXFlowMatchingTask, build_ltx_task  # LTX-Video flow matching
from .sampler import ResumableSampler
from .task import TrainingTask
from .trainer import TaskModule, Trainer, TrainResult, build_trainer, train

__all__ = [
    "TrainingTask",
    # LTX-Video image-to-video flow matching
    "LTXFlowMatchingOutput",
    "LTXFlowMatchingTask",
    "build_ltx_task",
    "ltx_i2v_flow_matching_loss",
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
