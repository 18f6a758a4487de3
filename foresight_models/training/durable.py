"""Durable file writes shared by the checkpoints and the feature cache: fsync a file or a folder, and
write a file under a temporary name that is renamed into place only once its bytes are on disk."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_dir", "fsync_file", "write_atomic"]


def fsync_file(path: str | os.PathLike) -> None:
    """Flush ``path``'s bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (so that a rename into it survives a power cut), where the platform can."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` through ``write(temporary_path)``, fsync it, rename it into place, fsync the folder.

    A crash leaves either the old file or the complete new one, never a part; the temporary file is
    removed when ``write`` fails.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
