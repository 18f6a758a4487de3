"""A tiny, real training task shared by the training tests and their subprocess script.

A ``QueryPredictionHead`` predicts the last frame of a ``SyntheticMotion`` clip from the frames
before it, frames cut into 4x4-pixel patch tokens; the loss is the MSE to the true tokens. A little
Gaussian noise on the context makes the loss draw from the global RNG, so resuming must restore it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from foresight_models.data import SyntheticMotion
from foresight_models.models.heads import QueryPredictionHead
from foresight_models.training import TrainingTask

FRAMES, SIZE, PATCH = 4, 16, 4


class NextFrameTask(TrainingTask):
    """``frames uint8 (b, t, 3, h, w)`` -> MSE of the predicted last-frame tokens ``(b, n, 3 * p * p)``."""

    def __init__(self, *, seed: int = 0, noise: float = 0.05):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = QueryPredictionHead(
                dim=3 * PATCH * PATCH,
                hidden_dim=16,
                depth=1,
                heads=2,
                dim_head=8,
                num_frames=FRAMES - 1,
                max_tokens=(SIZE // PATCH) ** 2,
            )
        self.trainable = {"head": self.head}
        self.noise = noise

    @staticmethod
    def tokens(frames: torch.Tensor) -> torch.Tensor:
        """``uint8 (b, t, 3, h, w)`` -> ``float (b, t, n, 3 * p * p)`` in [0, 1]."""
        return rearrange(frames.float() / 255.0, "b t c (h p) (w q) -> b t (h w) (c p q)", p=PATCH, q=PATCH)

    def loss(self, batch):
        tokens = self.tokens(batch["frames"])
        context = tokens[:, :-1] + self.noise * torch.randn_like(tokens[:, :-1])
        prediction = self.head(context)
        return {
            "loss": F.mse_loss(prediction, tokens[:, -1]),
            "copy_loss": F.mse_loss(tokens[:, -2], tokens[:, -1]).detach(),
        }


def tiny_dataset(num_clips: int = 16, seed: int = 0) -> SyntheticMotion:
    return SyntheticMotion(num_clips, frames=FRAMES, size=SIZE, seed=seed)


def tiny_config(output_dir, *, max_steps: int = 12, every: int = 4, **sections) -> dict:
    """A run config for the tiny task: batches of 4, a warmup + cosine schedule, a log line every step."""
    config = {
        "seed": 0,
        "output_dir": str(output_dir),
        "optim": {"lr": 3e-3, "warmup_steps": 2, "max_steps": max_steps, "batch_size": 4, "scheduler": "cosine"},
        "checkpoint": {"every": every, "keep_last": 2},
        "logging": {"every": 1, "progress_bar": False},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def train_steps(task: TrainingTask, batches, *, lr: float, steps: int | None = None) -> list[float]:
    """The plain loop: AdamW on the task's trainable parameters over ``batches`` (at most ``steps``);
    returns the losses."""
    optimizer = torch.optim.AdamW(task.trainable_parameters(), lr=lr)
    losses = []
    for i, batch in enumerate(batches):
        if steps is not None and i == steps:
            break
        loss = task.loss(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
