"""The optional Tuner: KerasTuner searches, and the Trainer trains with what it found."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from tests.conftest import one_line_error
from tests.e2e.helpers import dlpipe_run, node_states

pytestmark = pytest.mark.e2e


def test_tuner_result_reaches_the_trained_model(cli, tmp_path):
    result, run_id, config = dlpipe_run(
        cli, tmp_path, "tune.enabled=true", "tune.search_space={dense_units: [8, 48]}",
        "tune.max_trials=2", "tune.trial_steps=20", "train.train_steps=60", "train.epochs=1",
        "evaluate.min_accuracy=0.5", "evaluate.min_class_accuracy=0", "edge.enabled=false",
        "infra_validate.enabled=false",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    states = node_states(config, run_id)
    assert "Tuner" in states and "Trainer" in states
    best_files = list(config.pipeline_root.glob("Tuner/best_hyperparameters/*/*.txt"))
    assert len(best_files) == 1
    best = json.loads(best_files[0].read_text())["values"]["dense_units"]
    assert best in (8, 48)
    results = json.loads(next(config.pipeline_root.glob(
        "Tuner/tuner_results/*/tuner_results.json")).read_text())
    assert sorted(r["dense_units"] for r in results) == [8, 48]  # both trials completed
    assert best == max(results, key=lambda r: r["score"])["dense_units"]
    # The trained model's hidden dense layer has the searched width, not the config's 64.
    model_dir = next(config.pipeline_root.glob("Trainer/model/*/Format-Serving"))
    kernels = [shape for name, shape in tf.train.list_variables(
        str(model_dir / "variables" / "variables"))
               if name.startswith("model/_operations/") and name.endswith("_kernel/.ATTRIBUTES/"
                                                                         "VARIABLE_VALUE")]
    assert [best, 10] in kernels, kernels


def test_search_space_key_must_be_a_builder_parameter(cli, tmp_path):
    result = cli("run", "--set", f"output_root={tmp_path}", "--set", "tune.enabled=true",
                 "--set", "tune.search_space={units: [8, 16]}")
    one_line_error(result, 2, "tune.search_space.units", "dense_units")


def test_tuner_is_refused_for_a_generative_task(cli, tmp_path):
    from pipeline.config import CONFIG_DIR

    result = cli("run", "--config", str(CONFIG_DIR / "digits_vae.yaml"), "--set",
                 f"output_root={tmp_path}", "--set", "tune.enabled=true", "--set",
                 "tune.search_space={latent_dim: [4, 8]}")
    one_line_error(result, 2, "tune.enabled", "classification and regression kinds")
