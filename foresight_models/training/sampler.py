"""A seeded, sharded sampler whose position in the data can be saved and restored exactly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from .._validation import check_bool, check_int

__all__ = ["ResumableSampler"]


class ResumableSampler(Sampler[int]):
    """Seeded order over a dataset, split across processes, with a position that survives a restart.

    Epoch ``e`` visits a permutation of ``range(num_samples)`` drawn from ``(seed, e)`` (or the
    natural order with ``shuffle=False``), cut to a whole number of *global batches* of
    ``batch_size * num_replicas`` samples, and of ``batches_per_step`` global batches (one optimizer
    step with gradient accumulation), so every epoch ends on a step. Global batch ``g`` is
    ``order[g * B * P : (g + 1) * B * P]``; process ``rank`` takes its ``rank``-th slice of
    ``batch_size``. Iterate it through ``DataLoader(dataset, batch_size=batch_size, sampler=...)``.

    The position is ``(epoch, position)``, ``position`` counting the global batches already consumed
    in the epoch; the training loop advances it with :meth:`advance` and :meth:`set_epoch`.
    ``state_dict()`` / ``load_state_dict()`` save and restore it; a new iterator resumes at the
    saved position, so a resumed run sees exactly the batches an uninterrupted one would. The
    order depends on the global batch, not on how it is split: resuming with another number of
    processes but the same ``batch_size * num_replicas`` continues the same sequence.

    Args:
        num_samples: the dataset's length.
        batch_size: samples per process and batch.
        seed: order seed.
        shuffle: shuffle every epoch (``False``: ``0, 1, 2, ...``).
        num_replicas, rank: the number of processes and this process's index.
        batches_per_step: global batches per optimizer step (gradient accumulation steps).
    """

    def __init__(
        self,
        num_samples: int,
        *,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        batches_per_step: int = 1,
    ):
        self.num_samples = check_int(num_samples, "num_samples", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.num_replicas = check_int(num_replicas, "num_replicas", minimum=1)
        self.rank = check_int(rank, "rank", minimum=0, maximum=self.num_replicas - 1)
        self.batches_per_step = check_int(batches_per_step, "batches_per_step", minimum=1)
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"num_samples: {self.num_samples} samples do not fill one optimizer step of "
                f"batch_size {self.batch_size} x {self.num_replicas} process(es) x {self.batches_per_step} "
                f"accumulation step(s) = {self.samples_per_step} samples"
            )
        self.epoch = 0
        self.position = 0

    @property
    def global_batch_size(self) -> int:
        """Samples in one batch across all processes: ``batch_size * num_replicas``."""
        return self.batch_size * self.num_replicas

    @property
    def samples_per_step(self) -> int:
        """Samples in one optimizer step: ``global_batch_size * batches_per_step``."""
        return self.global_batch_size * self.batches_per_step

    @property
    def batches_per_epoch(self) -> int:
        """Global batches in one epoch (a multiple of ``batches_per_step``)."""
        return (self.num_samples // self.samples_per_step) * self.batches_per_step

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of ``epoch`` in visiting order, all processes together."""
        used = self.batches_per_epoch * self.global_batch_size
        if not self.shuffle:
            return np.arange(used)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)[:used]

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        for batch in range(self.position, self.batches_per_epoch):
            start = batch * self.global_batch_size + self.rank * self.batch_size
            yield from (int(i) for i in order[start : start + self.batch_size])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.position) * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its beginning."""
        self.epoch = check_int(epoch, "epoch", minimum=0)
        self.position = 0

    def advance(self, batches: int = 1) -> None:
        """Record that ``batches`` more global batches of the current epoch were consumed."""
        batches = check_int(batches, "batches", minimum=1)
        if self.position + batches > self.batches_per_epoch:
            raise ValueError(
                f"batches: advancing {batches} from position {self.position} passes the end of the epoch "
                f"({self.batches_per_epoch} batches)"
            )
        self.position += batches

    def state_dict(self) -> dict[str, Any]:
        """The position and what it depends on, as JSON values."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "num_samples": self.num_samples,
            "global_batch_size": self.global_batch_size,
            "batches_per_step": self.batches_per_step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`; refuses one saved over other data or another global batch size."""
        mine = self.state_dict()
        for key in ("seed", "shuffle", "num_samples", "global_batch_size", "batches_per_step"):
            if state.get(key) != mine[key]:
                raise ValueError(
                    f"state: the saved data position has {key}={state.get(key)!r} but this sampler has "
                    f"{key}={mine[key]!r}; it cannot continue the same sequence of batches"
                )
        self.epoch = check_int(state["epoch"], "state['epoch']", minimum=0)
        self.position = check_int(state["position"], "state['position']", minimum=0, maximum=self.batches_per_epoch)
