"""Training: tasks, feature caching, the accelerate training loop, crash-safe checkpoints, LTX-Video flow matching.

- :mod:`.task`: :class:`TrainingTask`, what a run optimises (trainable modules and a loss).
- :mod:`.tasks`: the tasks of every trainable module (heads, adapters, frame decoder, fusion, VLM) and
  :func:`build_task`; :mod:`.ltx` and :mod:`.flow_matching`: LTX-Video image-to-video flow matching;
  :mod:`.vae`: LTX-Video's VAE; :mod:`.foresight_tiny`: the recipe of the shipped foresight-tiny model.
- :mod:`.features` and :mod:`.cache`: frozen feature extractors, run once over a dataset into shards.
- :mod:`.trainer`, :mod:`.config`, :mod:`.datasets`, :mod:`.sampler`: the loop and its run config.
- :mod:`.checkpoint`: atomic, verified checkpoints and exact resume.

The guide, from tasks to several GPUs and LTX-Video: ``docs/training.md``.
"""

from __future__ import annotations

from .cache import CachedFeatures, CacheFingerprintError, IncompleteCacheError, cache_features, merge_cache_index
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
from .features import (
    CombinedFeatures,
    HybridEncoderFeatures,
    LTXVAELatents,
    PatchTokenizer,
    PromptEmbeddings,
    VLMHiddenStates,
    encoder_fingerprint,
)
from .flow_matching import LTXFlowMatchingOutput, ltx_i2v_flow_matching_loss
from .ltx import LTXFlowMatchingTask, build_ltx_task
from .sampler import ResumableSampler
from .task import TrainingTask
from .tasks import (
    TASKS,
    AdapterTask,
    FrameDecoderTask,
    FusionTask,
    HeadTask,
    VideoQADataset,
    VLMTask,
    build_task,
    pipeline_qa_samples,
    video_qa_pairs,
)
from .trainer import TaskModule, Trainer, TrainResult, build_trainer, train
from .vae import VAETask, build_vae_task

__all__ = [
    "TrainingTask",
    # tasks
    "TASKS",
    "AdapterTask",
    "FrameDecoderTask",
    "FusionTask",
    "HeadTask",
    "LTXFlowMatchingTask",
    "VAETask",
    "VLMTask",
    "VideoQADataset",
    "build_ltx_task",
    "build_task",
    "build_vae_task",
    "pipeline_qa_samples",
    "video_qa_pairs",
    # LTX-Video image-to-video flow matching
    "LTXFlowMatchingOutput",
    "ltx_i2v_flow_matching_loss",
    # feature extractors and the feature cache
    "CacheFingerprintError",
    "CachedFeatures",
    "CombinedFeatures",
    "HybridEncoderFeatures",
    "IncompleteCacheError",
    "LTXVAELatents",
    "PatchTokenizer",
    "PromptEmbeddings",
    "VLMHiddenStates",
    "cache_features",
    "encoder_fingerprint",
    "merge_cache_index",
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
