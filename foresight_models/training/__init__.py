"""Training: feature caching, the accelerate training loop, crash-safe checkpoints, flow matching for LTX-Video."""

from __future__ import annotations

from .task import TrainingTask

# isort: split
# training tasks, feature extractors and the feature cache
from .cache import CachedFeatures, CacheFingerprintError, IncompleteCacheError, cache_features, merge_cache_index
from .features import (
    CombinedFeatures,
    HybridEncoderFeatures,
    LTXVAELatents,
    PatchTokenizer,
    PromptEmbeddings,
    VLMHiddenStates,
    encoder_fingerprint,
)
from .tasks import (
    TASKS,
    AdapterTask,
    FrameDecoderTask,
    FusionTask,
    HeadTask,
    VideoQADataset,
    VLMTask,
    build_task,
    video_qa_pairs,
)

__all__ = [
    "TrainingTask",
    # training tasks, feature extractors and the feature cache
    "TASKS",
    "AdapterTask",
    "CacheFingerprintError",
    "CachedFeatures",
    "CombinedFeatures",
    "FrameDecoderTask",
    "FusionTask",
    "HeadTask",
    "HybridEncoderFeatures",
    "IncompleteCacheError",
    "LTXVAELatents",
    "PatchTokenizer",
    "PromptEmbeddings",
    "VLMHiddenStates",
    "VLMTask",
    "VideoQADataset",
    "build_task",
    "cache_features",
    "encoder_fingerprint",
    "merge_cache_index",
    "video_qa_pairs",
]
