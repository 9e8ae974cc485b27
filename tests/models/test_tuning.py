from types import SimpleNamespace

from models.tuning import tuned_hparams


def test_without_a_tuner_the_configured_values_are_used():
    args = SimpleNamespace(hyperparameters=None)
    assert tuned_hparams(args, {"units": 32, "dropout": 0.1}, 3e-3) == (
        {"units": 32, "dropout": 0.1}, 3e-3)


def test_tuned_values_override_config_and_learning_rate_is_split_off():
    # The shape of keras_tuner.HyperParameters.get_config(), as the TFX Trainer passes it.
    config = {"space": [], "values": {"units": 64, "learning_rate": 0.01}}
    hparams, lr = tuned_hparams(SimpleNamespace(hyperparameters=config),
                                {"units": 32, "dropout": 0.1}, 3e-3)
    assert hparams == {"units": 64, "dropout": 0.1} and lr == 0.01
