from pathlib import Path

import pytest

from pipeline import config as config_lib
from pipeline.config import ConfigError, load_config


def test_default_config_loads_and_resolves_paths():
    cfg = load_config()
    assert cfg.name == "digits_cnn"
    assert cfg.ingest.kind == "sklearn_digits"
    assert cfg.model.hparams["conv_filters"] == [16, 32]
    schema = Path(cfg.validate.schema_file)
    assert schema.is_absolute() and schema.is_file()
    assert cfg.serving_model_dir == cfg.root / "serving" / "digits"


def test_overrides_are_typed_yaml_scalars(tmp_path):
    cfg = load_config(overrides=[
        "train.train_steps=5", "train.learning_rate=0.5", f"output_root={tmp_path}",
        "enable_cache=false", "model.hparams.conv_filters=[8]",
    ])
    assert cfg.train.train_steps == 5
    assert cfg.train.learning_rate == 0.5
    assert cfg.enable_cache is False
    assert cfg.model.hparams["conv_filters"] == [8]
    assert cfg.pipeline_root == tmp_path / "pipeline" / "digits_cnn"


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.foo=1", "Unknown config key 'train.foo'"),
        ("bogus=1", "Unknown config key 'bogus'"),
        ("train.batch_size=abc",
         "'train.batch_size' must be int. Received: train.batch_size='abc'"),
        ("train.batch_size=0", "'train.batch_size' must be >= 1. Received: train.batch_size=0"),
        ("train.learning_rate=0", "'train.learning_rate' must be > 0.0"),
        ("evaluate.min_accuracy=1.5", "'evaluate.min_accuracy' must be <= 1.0"),
        ("ingest.kind=parquet", "'ingest.kind' must be one of 'sklearn_digits', 'mnist_5k'"),
        ("enable_cache=maybe", "'enable_cache' must be bool"),
        ("train=3", "'train' must be a mapping"),
        ("model.hparams.bogus=1", "Unknown config key 'model.hparams.bogus'"),
        ("model.hparams.dense_units=wide", "'model.hparams.dense_units' must be an int"),
        ("model.hparams.conv_filters=[8, x]",
         "'model.hparams.conv_filters' must be a list of an int"),
        ("model.builder=models.nope.build", "'model.builder' must name an importable function"),
        ("validate.schema_file=missing.pbtxt", "'validate.schema_file' must name an existing"),
        ("novalue", "Override must look like key=value"),
        ("task.kind=clustering", "'task.kind' must be one of 'image_classification'"),
        ("task.numeric=[a]", "'task.numeric' applies to tabular kinds"),
        ("task.image_shape=[8,8,2]", "channels 1 (grey) or 3 (RGB)"),
        ("model.builder=vae", "does not fit task.kind 'image_classification'"),
        ("model.builder=resnet", "'model.builder' is 'resnet', which is not a zoo builder"),
        ("train.hparams.dense_units=8", "Unknown config key 'train.hparams'"),
    ],
)
def test_bad_values_are_rejected_with_key_value_and_expectation(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override])
    assert message in str(e.value)


def test_toml_and_yaml_files(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('name = "t"\n[train]\ntrain_steps = 7\n[model.hparams]\ndense_units = 8\n')
    cfg = load_config(toml)
    assert (cfg.name, cfg.train.train_steps, cfg.model.hparams) == ("t", 7, {"dense_units": 8})

    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="Config file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="expected .yaml, .yml or .toml"):
        (tmp_path / "c.json").write_text("{}")
        load_config(tmp_path / "c.json")


def test_schema_file_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "s.pbtxt").write_text("")
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("validate:\n  schema_file: schemas/s.pbtxt\n")
    assert load_config(cfg_file).validate.schema_file == str(tmp_path / "schemas" / "s.pbtxt")


def test_every_key_is_documented():
    lines = config_lib.describe_schema()
    keys = {line.split(" = ")[0] for line in lines}
    assert {"train.train_steps", "evaluate.min_accuracy", "push.model_name"} <= keys
    assert all("#" in line and line.split("# ", 1)[1] for line in lines)
