"""Atomic, durable file output: write to a temporary name in the same folder, fsync, then rename.

The data are flushed to disk (``fsync``) before the rename and the folder entry after it, so that
after a power loss or a node crash the final name holds either the old file or the complete new one,
never a renamed but empty file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success it is renamed to ``final``.

    On an exception the temporary file is removed and ``final`` is left untouched, so a reader never
    sees a half-written file under the final name.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        replace_durably(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename, a new file) to disk; a no-op where folders cannot be opened."""
    flag = getattr(os, "O_DIRECTORY", None)
    if flag is None:  # Windows
        return
    try:
        fd = os.open(folder, os.O_RDONLY | flag)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on folders
        pass
    finally:
        os.close(fd)


def replace_durably(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """fsync ``tmp``, rename it to ``final`` (atomic on POSIX), then fsync the folder."""
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(Path(final).parent)


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text)
