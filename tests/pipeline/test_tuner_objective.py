"""The Tuner's objective and its direction follow the task kind unless the config names one."""

from __future__ import annotations

import json

import pytest

from models.tasks.tuner import objective_direction


@pytest.mark.parametrize("name, objective, direction", [
    ("digits_cnn", "val_sparse_categorical_accuracy", "max"),
    ("penguins_regression", "val_mean_absolute_error", "min"),
    ("interactions_two_tower", "val_recall_at_k", "max"),
])
def test_each_kind_has_a_default_objective_its_model_reports(tmp_path, name, objective,
                                                             direction):
    from pipeline.config import CONFIG_DIR, load_config
    from pipeline.pipeline import create_pipeline
    from pipeline.tasks import prepare

    config = load_config(CONFIG_DIR / f"{name}.yaml", [
        f"output_root={tmp_path}", "tune.enabled=true",
        "tune.search_space={learning_rate: [0.01, 0.001]}"])
    prepared = prepare(config)
    nodes = {c.id: c for c in create_pipeline(
        config, prepared.task, prepared.source.tfds_feature_map).components}
    custom = json.loads(nodes["Tuner"].exec_properties["custom_config"])
    assert custom["tune"]["objective"] == objective
    assert objective_direction(objective) == direction


@pytest.mark.parametrize("objective, direction", [
    ("val_loss", "min"), ("loss", "min"), ("val_mae", "min"), ("val_mse", "min"),
    ("val_root_mean_squared_error", "min"), ("val_binary_crossentropy", "min"),
    ("val_accuracy", "max"), ("val_auc", "max"), ("val_recall_at_k", "max"),
    ("val_precision", "max"),
])
def test_losses_and_errors_are_minimized_and_other_metrics_maximized(objective, direction):
    assert objective_direction(objective) == direction
