"""Files replaced whole or not at all, and durably: the one way every layer writes a file in place.

A crash (or a power cut) while a file is replaced leaves the previous file, never a torn one:
the new content goes to a temporary file beside the target, is flushed and fsynced, renamed
over the target, and the directory entry is fsynced too, since a rename is durable only once
its directory is on disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["replace_directory", "sync_directory", "write_atomically"]


def write_atomically(path: Path, content: bytes | str | Callable[[IO[bytes]], None]) -> None:
    """Replace ``path`` with ``content``: bytes, text (UTF-8), or a function writing to a binary stream."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            if isinstance(content, bytes):
                stream.write(content)
            elif isinstance(content, str):
                stream.write(content.encode("utf-8"))
            else:
                content(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def replace_directory(directory: Path, fill: Callable[[Path], None]) -> None:
    """Replace ``directory`` with one ``fill`` writes into a fresh sibling, then synced.

    A directory cannot be swapped in one rename over a non-empty one, so a crash between
    renaming the old aside and renaming the new in leaves no directory: readers must treat a
    missing directory as "rebuild".
    """
    partial = directory.with_name(f".{directory.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        fill(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for child in partial.iterdir():
        if child.is_file():
            with child.open("rb") as stream:
                os.fsync(stream.fileno())
    sync_directory(partial)
    # Renamed aside, not deleted in place: a crash amid a deletion would leave a torn directory
    # under the real name. Processes that memory-mapped the old files keep reading them.
    stale = directory.with_name(f".{directory.name}.stale")
    _remove(stale)
    if directory.exists():
        os.replace(directory, stale)
    os.replace(partial, directory)
    sync_directory(directory.parent)
    _remove(stale)


def _remove(path: Path) -> None:
    """Delete a directory tree or a file (what an older version wrote under the same name)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def sync_directory(directory: Path) -> None:
    """fsync a directory, so that the entries renamed into it survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
