"""Training: feature caching, the accelerate training loop, crash-safe checkpoints, flow matching for LTX-Video."""

from __future__ import annotations

from .task import TrainingTask

__all__ = ["TrainingTask"]
