"""Evaluation metrics: pure, batched torch functions, one documented meaning each."""

from .video import framewise, temporal_consistency, temporal_ratio

__all__ = ["framewise", "temporal_consistency", "temporal_ratio"]
