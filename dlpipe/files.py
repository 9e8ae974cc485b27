"""Writing files whole or not at all: a reader sees the old file (or none) or the new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[str]:
    """Yields a temporary path beside ``path``; renamed onto ``path`` if the block succeeds.

    On an error the temporary file is removed and ``path`` is left as it was. The temporary
    name is dot-prefixed, so globs such as ``*.csv`` never pick it up.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomically(path: Path, text: str, *, mode: int | None = None,
                     skip_unchanged: bool = False) -> bool:
    """Writes ``text`` to ``path`` whole (temp file, fsync, rename).

    Args:
      path: The file to write; its directory is created.
      text: The content (UTF-8).
      mode: Permission bits; default: the process umask's (not mkstemp's 0600, which would
        hide the file from a scheduler or server running as another user).
      skip_unchanged: Leave the file alone (and return False) if it already holds ``text``,
        so a file a server watches does not change its mtime for nothing.

    Returns:
      True if the file was written.
    """
    path = Path(path)
    if skip_unchanged and path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
    return True
