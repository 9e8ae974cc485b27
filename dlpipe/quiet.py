"""Importing TensorFlow without its C++ start-up noise on the terminal."""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up messages (CUDA plugin registration on a
    machine without GPU) kept off the terminal. Python errors still surface."""
    if "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
