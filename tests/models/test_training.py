import json

import keras
import numpy as np
import pytest

from models.training import ThroughputLog


def test_throughput_log_counts_training_steps_and_excludes_validation(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    path = tmp_path / "run" / "stats.json"
    log = ThroughputLog(batch_size=8, path=str(path))
    model.fit(np.zeros((64, 4)), np.zeros((64, 2)), batch_size=8, epochs=3, verbose=0,
              validation_data=(np.zeros((16, 4)), np.zeros((16, 2))), callbacks=[log])
    stats = json.loads(path.read_text())
    assert stats["epochs"] == 3 and stats["steps"] == 24 and stats["batch_size"] == 8
    assert len(log.epoch_seconds) == 3  # one timing per epoch, validation not a 4th
    steady = sum(log.epoch_seconds[1:])
    assert stats["examples_per_sec"] == pytest.approx(16 * 8 / steady)
    assert stats["seconds"] == pytest.approx(sum(log.epoch_seconds))


def test_without_a_tuner_the_configured_values_are_used():
    from types import SimpleNamespace

    from models.training import tuned_hparams

    args = SimpleNamespace(hyperparameters=None)
    assert tuned_hparams(args, {"units": 32, "dropout": 0.1}, 3e-3) == (
        {"units": 32, "dropout": 0.1}, 3e-3)


def test_tuned_values_override_config_and_learning_rate_is_split_off():
    from types import SimpleNamespace

    from models.training import tuned_hparams

    # The shape of keras_tuner.HyperParameters.get_config(), as the TFX Trainer passes it.
    config = {"space": [], "values": {"units": 64, "learning_rate": 0.01}}
    hparams, lr = tuned_hparams(SimpleNamespace(hyperparameters=config),
                                {"units": 32, "dropout": 0.1}, 3e-3)
    assert hparams == {"units": 64, "dropout": 0.1} and lr == 0.01
