"""What a training run optimises: a :class:`TrainingTask` pairs trainable modules with a loss.

The training loop (:mod:`foresight_models.training.trainer`) knows nothing about adapters, heads or
LTX-Video: it asks a task for its modules, its trainable parameters and the loss of a batch. Every
trainable thing in the library (an adapter, a prediction head, the frame decoder, the hybrid
encoder's fusion, a VLM LoRA, LTX-Video flow matching) is one task.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["TrainingTask"]


class TrainingTask(nn.Module):
    """Base class of everything the trainer can optimise.

    A task is an ``nn.Module`` holding every module the loss needs, trainable or frozen, so that
    ``accelerator.prepare(task)`` moves, wraps (DDP/FSDP) and casts all of them at once.

    Subclasses implement :meth:`loss` and set :attr:`trainable`; they may override
    :meth:`trainable_parameters` (for example to return only LoRA parameters) and
    :meth:`save_pretrained` (the final export, such as a LoRA in diffusers' format), and may define
    ``collate(items) -> batch``: the trainer then batches with it in its DataLoader workers (CPU
    preprocessing such as a processor's image work), and :meth:`loss` receives its batches.

    Attributes:
        trainable: name -> module whose state is checkpointed and exported; these are the modules
            whose (requires-grad) parameters the optimiser updates.
    """

    trainable: Mapping[str, nn.Module]

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters the optimiser updates (default: every ``requires_grad`` parameter of :attr:`trainable`)."""
        seen: set[int] = set()
        for module in self.trainable.values():
            for parameter in module.parameters():
                if parameter.requires_grad and id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield parameter

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor | Mapping[str, torch.Tensor]:
        """The scalar loss of one batch, or a mapping with a ``"loss"`` entry plus extra scalars to log."""
        raise NotImplementedError

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Export the trained modules, one ``save_pretrained`` subfolder per entry of :attr:`trainable`."""
        for name, module in self.trainable.items():
            module.save_pretrained(os.path.join(os.fspath(directory), name))
