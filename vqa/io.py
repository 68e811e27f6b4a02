"""Atomic file writing: a reader never sees a half-written cache, dataset, result or bundle file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success it is renamed over `path`.

    The rename is atomic on POSIX, so a crash leaves either the old file or the new one, never a partial one;
    the temporary file is removed on failure (a killed process may leave `.NAME.*.tmp` behind: never read,
    safe to delete). The data is flushed to disk before the rename and the rename itself after it, so that
    a power loss does not leave an empty file under the final name either.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them the permissions open() would
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        _fsync_directory(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def staging_dir(target: str | os.PathLike) -> Path:
    """A new hidden folder beside `target` to fill and then rename onto it (an atomic folder write).

    Created with the permissions `mkdir` would give (mkdtemp alone makes it private to its owner).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(path, 0o777 & ~_UMASK)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (best effort: not every file system allows opening a folder)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
