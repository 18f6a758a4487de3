"""Training: feature caching, the accelerate training loop, crash-safe checkpoints, flow matching for LTX-Video."""

from __future__ import annotations

from .flow_matching import LTXFlowMatchingOutput, ltx_i2v_flow_matching_loss  # LTX-Video flow matching
from .ltx import LTXFlowMatchingTask, build_ltx_task  # LTX-Video flow matching
from .task import TrainingTask

__all__ = [
    "TrainingTask",
    # LTX-Video image-to-video flow matching
    "LTXFlowMatchingOutput",
    "LTXFlowMatchingTask",
    "build_ltx_task",
    "ltx_i2v_flow_matching_loss",
]
