"""The order in which the folder ExampleGens read their files.

A folder is listed class by class. Beam's DirectRunner keeps the order a reader produces
(its GroupByKey emits keys in first-seen order, so TFX's pre-write Reshuffle does not mix
records there; components/input_order.py), and the Trainer mixes only within a
10,000-example shuffle buffer and across files: a folder read class by class would train on
batches of one or two classes. The file list is already in memory, so mixing it here is free
and holds for every runner.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

SEED = 0
"""Fixed: the same folder is written in the same order on every run."""


def mixed(files: Sequence[T]) -> list[T]:
    """``files`` in a pseudo-random order that depends only on the list."""
    return random.Random(SEED).sample(list(files), len(files))
