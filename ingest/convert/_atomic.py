"""Write-then-rename: a destination only ever holds a complete, validated file."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ingest.convert.errors import EmptyInputError, InputNotFoundError


@contextmanager
def atomic_destination(dst: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; move it onto ``dst`` only if the block succeeds.

    The temporary file lives in the destination folder so the final ``os.replace`` is a
    same-filesystem rename (atomic on POSIX): readers see the old file or the new one, never a
    half-written one. On any exception the temporary file is removed and the exception
    propagates, so a failed conversion leaves nothing behind.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.{secrets.token_hex(6)}.part"
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def flushing(path: Path) -> Iterator[None]:
    """Flush ``path`` to disk on another thread while the block runs.

    For work that only reads the written file back (validating it): the disk write overlaps
    it, and the final fsync of :func:`atomic_destination` then finds nothing left to write.
    An error here is not lost: that final fsync raises it again.
    """
    thread = threading.Thread(target=_fsync_quietly, args=(path,), name="fsync", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _fsync_quietly(path: Path) -> None:
    with suppress(OSError):  # reported by the fsync that follows in atomic_destination
        _fsync(path)


def _fsync(path: Path) -> None:
    """Flush the file to disk before the rename, so a crash cannot leave a renamed empty file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_input_file(path: Path) -> int:
    """Return the size of ``path``, raising the precise error when it is missing or empty.

    Both cases are checked before any decoder sees the file, because the decoders report them
    as vague "format not recognised" errors.
    """
    if not path.is_file():
        raise InputNotFoundError(f"{path}: input file does not exist", path=path)
    size = path.stat().st_size
    if size == 0:
        raise EmptyInputError(f"{path}: input file is empty (0 bytes)", path=path)
    return size
