"""The locks that serialise what concurrent calls of one pipeline share: one re-entrant lock per module
object, so pipelines sharing a module share its lock."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["lock_for", "locked"]

_LOCKS: weakref.WeakKeyDictionary[torch.nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def lock_for(module: torch.nn.Module) -> threading.RLock:
    """The lock of a shared module (one per module object, so pipelines sharing a module share it)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


def locked(function: Callable, lock: threading.RLock) -> Callable:
    """``function``, run holding ``lock``."""
    def call(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return function(*args, **kwargs)

    return call
