"""Training on several devices of one host: ``train.distribution: mirrored``.

The Trainer builds, compiles and fits the model inside the scope of the strategy returned
here: ``tf.distribute.MirroredStrategy`` over this host's GPUs, or, without GPUs, over
``cpu_devices`` logical CPUs (one replica each: what tests and CPU-only hosts use). Each
replica computes the gradients of its share of every batch; they are summed before each
update, so the result is one model like any other (it exports, serves and converts the same).

Several hosts (``MultiWorkerMirroredStrategy``) are not offered: Keras 3 (3.6 here) fails in
``fit`` under it (keras-team/keras#20585).
"""

from __future__ import annotations

import logging
from typing import Any

NONE, MIRRORED = "none", "mirrored"
DISTRIBUTIONS = (NONE, MIRRORED)


def split_cpu(devices: int) -> None:
    """Makes TensorFlow see ``devices`` logical CPUs (1 or less: leaves it alone).

    It must run before TensorFlow initializes its devices in this process; ``dlpipe run``
    calls it at start.

    Raises:
      ValueError: TensorFlow already started with another number of CPU devices.
    """
    import tensorflow as tf

    if devices <= 1:
        return
    [cpu] = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
    except RuntimeError:  # the devices are initialized: fine if already split this way
        have = len(tf.config.list_logical_devices("CPU"))
        if have != devices:
            raise ValueError(
                f"train.cpu_devices={devices} needs the CPU split before TensorFlow starts, "
                f"but this process started it with {have} CPU device(s). Run the Trainer in "
                "a fresh process (dlpipe run does the split at start)."
            ) from None


def strategy(distribution: str = NONE, cpu_devices: int = 0) -> Any:
    """The ``tf.distribute`` strategy to build, compile and fit under.

    Args:
      distribution: ``none`` (TensorFlow's default strategy: one device) or ``mirrored``.
      cpu_devices: ``mirrored`` on a host without GPUs: logical CPUs to mirror over.
    """
    import tensorflow as tf

    if distribution == NONE:
        return tf.distribute.get_strategy()
    if distribution != MIRRORED:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}. "
                         f"Received: distribution={distribution!r}")
    split_cpu(cpu_devices)
    devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
               or [d.name for d in tf.config.list_logical_devices("CPU")])
    mirrored = tf.distribute.MirroredStrategy(devices=devices)
    logging.getLogger(__name__).info(
        "Training under MirroredStrategy: %d replicas (%s)", mirrored.num_replicas_in_sync,
        ", ".join(devices))
    return mirrored
