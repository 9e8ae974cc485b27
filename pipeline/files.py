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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` with the process umask's permissions (not mkstemp's 0600,
    which would hide the file from a scheduler running as another user)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
