"""``train.distribution: mirrored``: the project's CNN built, compiled and fitted under
MirroredStrategy on 2 logical CPU devices, in a fresh process (the CPU must be split before
TensorFlow starts). The pipeline's Trainer under it is tests/e2e/test_portable.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.config import ConfigError, load_config

_SCRIPT = r"""
import json, sys
import numpy as np
from models import distribution
from models.cnn import build_cnn

strategy = distribution.strategy("mirrored", cpu_devices=2)
with strategy.scope():
    model = build_cnn((8, 8, 1), 10)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 16, (256, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 256)
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
model.export(sys.argv[1], verbose=False)
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
served = loaded.serve(tf.constant(x[:4]))
try:
    distribution.split_cpu(3)
    late = ""
except ValueError as e:
    late = str(e)
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "mirrored": type(model.trainable_variables[0].value).__name__,
    "losses": history.history["loss"],
    "max_diff": float(np.abs(served.numpy() - model.predict(x[:4], verbose=0)).max()),
    "late": late,
}))
"""


def test_cnn_trains_on_two_cpu_replicas_and_exports(tmp_path):
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "model")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["mirrored"] == "MirroredVariable", result["mirrored"]
    assert result["losses"][1] < result["losses"][0]
    assert result["max_diff"] < 1e-5  # the exported model answers as the trained one
    assert result["late"].startswith("train.cpu_devices=3 needs the CPU split before "
                                     "TensorFlow starts, but this process started it with 2")


@pytest.mark.parametrize("overrides, message", [
    (["train.distribution=multi_worker"],
     "Config key 'train.distribution' must be one of 'none', 'mirrored'. "
     "Received: train.distribution='multi_worker'."),
    (["train.cpu_devices=2"],
     "Config key 'train.cpu_devices' applies with train.distribution='mirrored'; "
     "train.distribution is 'none'. Received: train.cpu_devices=2."),
])
def test_bad_distribution_keys(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=overrides)
    assert str(e.value) == message


def test_generators_train_their_own_way():
    from pipeline.config import CONFIG_DIR

    with pytest.raises(ConfigError, match="'train.distribution' applies to classification "
                                          "and regression kinds; task.kind is 'vae'"):
        load_config(CONFIG_DIR / "digits_vae.yaml", ["train.distribution=mirrored"])
