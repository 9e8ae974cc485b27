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
        ("edge.rgb_input=yes please", "'edge.rgb_input' must be bool. Received: "
         "edge.rgb_input='yes please'"),
        ("edge.author=[a, b]", "'edge.author' must be str"),
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


def test_edge_metadata_and_rgb_input_keys():
    cfg = load_config(overrides=["edge.author=Digits Team <digits@example.com>",
                                 "edge.license=Apache-2.0", "edge.rgb_input=true"])
    assert (cfg.edge.author, cfg.edge.license, cfg.edge.rgb_input) == (
        "Digits Team <digits@example.com>", "Apache-2.0", True)
    defaults = load_config().edge
    assert (defaults.author, defaults.license, defaults.rgb_input) == ("", "", False)


@pytest.mark.parametrize("config_file, overrides, why", [
    ("penguins_mlp.yaml", [], "task.kind is 'tabular_classification'"),
    ("digits_vae.yaml", [], "task.kind is 'vae'"),
    ("digits_cnn.yaml", ["task.image_shape=[8,8,3]"], "the images have 3 channels"),
])
def test_rgb_input_is_refused_where_it_cannot_apply(config_file, overrides, why):
    with pytest.raises(ConfigError) as e:
        load_config(config_lib.CONFIG_DIR / config_file, [*overrides, "edge.rgb_input=true"])
    message = str(e.value)
    assert message == (
        "Config key 'edge.rgb_input' applies to image classifiers with 1 channel (grey images "
        f"an app sends as RGB); {why}. Received: edge.rgb_input=true.")


def test_rgb_input_is_refused_for_rgb_images_once_the_data_says_so():
    """An image folder or TFDS dataset tells its channels only when read: checked then."""
    from models.tasks.spec import Task
    from pipeline.config.checks import check_resolved

    config = load_config(overrides=["edge.rgb_input=true"])
    check_resolved(config, Task(kind="image_classification", label="label",
                                image_shape=(8, 8, 1)))
    with pytest.raises(ConfigError, match=r"the images have 3 channels\. Received: "
                                          r"edge\.rgb_input=true\.$"):
        check_resolved(config, Task(kind="image_classification", label="label",
                                    image_shape=(32, 32, 3)))
