"""Writing export files whole or not at all (``pipeline.files``)."""

from pipeline.files import write_atomically

__all__ = ["write_atomically"]
