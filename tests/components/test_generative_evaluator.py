"""GenerativeEvaluator: the metrics and thresholds, and the executor's real Beam pipeline
on small real models (a VAE exported with a real Transform graph; a template generator
scored by a nearest-centroid digits classifier), writing TFX's blessing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from components.generative_evaluator import metrics
from components.generative_evaluator.metrics import Thresholds
from pipeline.beam.options import WORKERS_USE_THIS_ENVIRONMENT
from tests import generative_helpers as helpers

GAN_TASK = json.dumps(helpers.digits_task("gan").to_dict())
VAE_TASK = json.dumps(helpers.digits_task("vae").to_dict())


# --- metrics and thresholds (no TensorFlow) ---------------------------------------------


def _vae_stats(group: str, count: int, recon: float, mean_err: float, elbo: float,
               nll: float) -> dict:
    return {f"{group}/count": count, f"{group}/reconstruction_error": recon * count,
            f"{group}/mean_image_error": mean_err * count, f"{group}/neg_elbo": elbo * count,
            f"{group}/mean_image_nll": nll * count, f"{group}/kl": 2.0 * count}


def test_vae_thresholds_against_the_mean_image_and_the_blessed_model():
    stats = _vae_stats("candidate", 10, recon=0.03, mean_err=0.07, elbo=24.0, nll=27.0)
    result = metrics.evaluate_stats("vae", stats, Thresholds(max_reconstruction_ratio=0.6))
    assert result["blessed"], result["reason"]
    assert result["metrics"]["example_count"] == 10
    assert result["metrics"]["reconstruction_ratio"] == pytest.approx(0.03 / 0.07)

    result = metrics.evaluate_stats("vae", stats, Thresholds(max_reconstruction_ratio=0.4))
    assert not result["blessed"]
    assert result["reason"] == ("reconstruction_error = 0.0300, required <= 0.0280 "
                                "(0.4 x mean-image error 0.0700)")

    worse_elbo = _vae_stats("candidate", 10, recon=0.03, mean_err=0.07, elbo=28.0, nll=27.0)
    result = metrics.evaluate_stats("vae", worse_elbo, Thresholds())
    assert "neg_elbo = 28.0000, required <= 27.0000" in result["reason"]

    # 20% worse than the latest blessed model, 10% allowed.
    stats.update(_vae_stats("baseline", 10, recon=0.025, mean_err=0.07, elbo=24.0, nll=27.0))
    result = metrics.evaluate_stats("vae", stats, Thresholds(max_regression=0.1))
    assert not result["blessed"]
    assert "at most 10% above the latest blessed model's 0.0250" in result["reason"]
    assert result["diff"]["reconstruction_error"] == pytest.approx(0.005)


def _gan_stats(group: str, probabilities: np.ndarray) -> dict:
    from components.generative_evaluator.executor import _class_stats

    return _class_stats(group, probabilities)


def test_gan_confidence_and_coverage():
    eye = np.eye(10)
    diverse = np.tile(eye * 0.9 + 0.01, (10, 1))  # every class, confidence 0.91
    collapsed = np.tile(eye[:2] * 0.9 + 0.01, (50, 1))  # classes 0 and 1 only
    stats = {**_gan_stats("candidate", diverse), **_gan_stats("real", diverse)}
    result = metrics.evaluate_stats("gan", stats, Thresholds())
    assert result["blessed"], result["reason"]
    m = result["metrics"]
    assert m["mean_confidence"] == pytest.approx(0.91)
    assert (m["class_coverage"], m["classes_covered"], m["sample_count"]) == (1.0, 10, 100)
    assert m["frechet_distance"] == pytest.approx(0.0, abs=1e-6)  # same distribution

    stats = {**_gan_stats("candidate", collapsed), **_gan_stats("real", diverse)}
    result = metrics.evaluate_stats("gan", stats, Thresholds(max_frechet_distance=0.01))
    assert not result["blessed"]
    assert "class_coverage = 0.2000, required >= 0.5000" in result["reason"]
    assert "frechet_distance" in result["reason"]
    assert result["metrics"]["frechet_distance"] > 0.01

    # A candidate that covers fewer classes than the latest blessed model.
    seven = np.concatenate([np.tile(eye[:7] * 0.9 + 0.01, (10, 1))])
    stats = {**_gan_stats("candidate", seven), **_gan_stats("baseline", diverse)}
    result = metrics.evaluate_stats("gan", stats, Thresholds())
    assert result["reason"] == ("class_coverage = 0.7000, required >= 0.9000 (at most 10% "
                                "below the latest blessed model's 1.0000)")


def test_frechet_distance_of_shifted_gaussians():
    cov = np.diag([1.0, 2.0])
    assert metrics.frechet_distance((np.zeros(2), cov), (np.array([3.0, 4.0]), cov)) == \
        pytest.approx(25.0)


def test_thresholds_round_trip_and_unknown_keys():
    t = Thresholds(min_confidence=0.8)
    assert Thresholds.from_json(t.to_json()) == t
    with pytest.raises(ValueError, match="Unknown thresholds \\['min_acc'\\]"):
        Thresholds.from_json('{"min_acc": 1}')


# --- the executor: Beam pipeline, evaluation and blessing artifacts ----------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generative_evaluator")


@pytest.fixture(scope="module")
def examples_uri(work) -> Path:
    uri = work / "examples"
    helpers.write_examples(uri, eval_rows=100)
    return uri


@pytest.fixture(scope="module")
def vae_uri(work) -> Path:
    tft_output = helpers.analyze_digits(work)
    helpers.export_tiny_vae(work / "vae" / "Format-Serving", tft_output, steps=150)
    return work / "vae"


@pytest.fixture(scope="module")
def scorer_base(work) -> Path:
    helpers.export_centroid_scorer(work / "serving" / "digits" / "3")
    return work / "serving" / "digits"


def _model(uri: Path, artifact_id: int):
    from tfx.types import standard_artifacts

    model = standard_artifacts.Model()
    model.uri = str(uri)
    model.id = artifact_id
    return model


def _run(tmp_path: Path, examples_uri: Path, model, baseline=None, **props):
    from tfx.types import artifact_utils, standard_artifacts

    from components.generative_evaluator.executor import Executor

    examples = standard_artifacts.Examples()
    examples.uri = str(examples_uri)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(tmp_path / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    inputs = {"examples": [examples], "model": [model]}
    if baseline is not None:
        inputs["baseline_model"] = [baseline]
    exec_properties = {"task": VAE_TASK, "thresholds": Thresholds().to_json(),
                       "batch_size": 32, **props}
    # The flag a DirectRunner run gets: without it TFX builds and leaves a 49 MB sdist of
    # itself in the temporary directory (pipeline/beam/options.py).
    context = Executor.Context(beam_pipeline_args=["--runner=DirectRunner",
                                                   WORKERS_USE_THIS_ENVIRONMENT],
                               tmp_dir=str(tmp_path / "tmp"))
    Executor(context).Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]},
                         exec_properties)
    return blessing, metrics.read_metrics(evaluation.uri)


def test_vae_blessing_is_what_tfx_evaluator_writes(tmp_path, examples_uri, vae_uri):
    from tfx.components.util import model_utils

    blessing, result = _run(tmp_path, examples_uri, _model(vae_uri, 11),
                            baseline=_model(vae_uri, 7),
                            thresholds=Thresholds(max_reconstruction_ratio=0.95,
                                                  max_elbo_ratio=1.5).to_json())
    assert result["blessed"], result["reason"]
    assert model_utils.is_model_blessed(blessing)  # what the Pusher and EdgeExport check
    assert (Path(blessing.uri) / "BLESSED").is_file()
    assert blessing.get_string_custom_property("current_model") == str(vae_uri)
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert blessing.get_string_custom_property("baseline_model") == str(vae_uri)
    assert blessing.get_int_custom_property("baseline_model_id") == 7
    m = result["metrics"]
    assert m["example_count"] == 100  # the whole eval split, batches of 32
    assert 0 < m["reconstruction_error"] < m["mean_image_error"]
    assert m["neg_elbo"] > m["kl"] > 0
    # The baseline model is the same model: the same metrics, a zero change.
    assert result["baseline_metrics"]["reconstruction_error"] == pytest.approx(
        m["reconstruction_error"])
    assert result["diff"]["reconstruction_error"] == pytest.approx(0.0, abs=1e-9)
    assert (Path(tmp_path / "evaluation") / metrics.STATS_FILE).is_file()


def test_vae_below_the_bar_is_not_blessed(tmp_path, examples_uri, vae_uri):
    blessing, result = _run(tmp_path, examples_uri, _model(vae_uri, 1),
                            thresholds=Thresholds(max_reconstruction_ratio=0.05).to_json())
    assert not result["blessed"]
    assert blessing.get_int_custom_property("blessed") == 0
    assert (Path(blessing.uri) / "NOT_BLESSED").is_file()
    assert result["reason"].startswith("reconstruction_error = ")
    assert "0.05 x mean-image error" in result["reason"]
    assert blessing.get_string_custom_property("baseline_model") == ""


def test_baseline_of_another_kind_is_left_out(tmp_path, examples_uri, vae_uri):
    generator = helpers.export_template_generator(tmp_path / "gan" / "Format-Serving")
    blessing, result = _run(tmp_path, examples_uri, _model(vae_uri, 3),
                            baseline=_model(generator.parent, 2),
                            thresholds=Thresholds(max_reconstruction_ratio=0.95,
                                                  max_elbo_ratio=1.5).to_json())
    assert result["blessed"], result["reason"]
    assert result["baseline_metrics"] is None and result["baseline_model"] is None
    assert blessing.get_string_custom_property("baseline_model") == ""


def test_gan_samples_scored_by_the_newest_scorer_version(tmp_path, examples_uri, scorer_base):
    generator = helpers.export_template_generator(tmp_path / "gan" / "Format-Serving")
    blessing, result = _run(tmp_path, examples_uri, _model(generator.parent, 2),
                            task=GAN_TASK, scorer_model=str(scorer_base), num_samples=300,
                            seed=3)
    assert result["blessed"], result["reason"]
    assert result["scorer_model"] == str(scorer_base / "3")
    m = result["metrics"]
    assert m["sample_count"] == 300
    assert m["class_coverage"] == 1.0
    assert m["mean_confidence"] > 0.9
    assert m["real_class_coverage"] == 1.0
    assert blessing.get_int_custom_property("blessed") == 1


def test_collapsed_gan_is_not_blessed_and_regression_is_caught(tmp_path, examples_uri,
                                                               scorer_base):
    good = helpers.export_template_generator(tmp_path / "good" / "Format-Serving")
    collapsed = helpers.export_template_generator(tmp_path / "bad" / "Format-Serving",
                                                  classes=3)
    _, result = _run(tmp_path, examples_uri, _model(collapsed.parent, 5),
                     baseline=_model(good.parent, 4), task=GAN_TASK,
                     scorer_model=str(scorer_base), num_samples=200)
    assert not result["blessed"]
    assert "class_coverage = 0.3000, required >= 0.5000 (evaluate.min_class_coverage)" in \
        result["reason"]
    assert "below the latest blessed model's 1.0000" in result["reason"]
    assert result["diff"]["class_coverage"] == pytest.approx(-0.7)


def test_missing_scorer_says_how_to_get_one(tmp_path, examples_uri):
    from dlpipe.errors import DlpipeError

    generator = helpers.export_template_generator(tmp_path / "gan" / "Format-Serving")
    with pytest.raises(DlpipeError, match="Run the digits_cnn pipeline first"):
        _run(tmp_path, examples_uri, _model(generator.parent, 1), task=GAN_TASK,
             scorer_model=str(tmp_path / "serving" / "digits"))


# --- wiring ---------------------------------------------------------------------------


def test_component_outputs_and_parameters():
    from tfx import types
    from tfx.types import standard_artifacts

    from components.generative_evaluator.component import GenerativeEvaluator

    component = GenerativeEvaluator(
        examples=types.Channel(type=standard_artifacts.Examples),
        model=types.Channel(type=standard_artifacts.Model),
        task=GAN_TASK, thresholds=Thresholds().to_json(), num_samples=64)
    assert component.outputs["blessing"].type == standard_artifacts.ModelBlessing
    assert component.outputs["evaluation"].type == standard_artifacts.ModelEvaluation
    assert component.exec_properties["num_samples"] == 64
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        GenerativeEvaluator(examples=types.Channel(type=standard_artifacts.Examples),
                            model=types.Channel(type=standard_artifacts.Model),
                            task=GAN_TASK, thresholds="{}", num_samples=0)


@pytest.mark.parametrize("name, evaluator", [("digits_vae", "GenerativeEvaluator"),
                                             ("digits_gan", "GenerativeEvaluator"),
                                             ("digits_cnn", "Evaluator")])
def test_pipeline_picks_the_evaluator_from_the_task(tmp_path, name, evaluator):
    from pipeline.config import CONFIG_DIR, load_config
    from pipeline.pipeline import create_pipeline
    from pipeline.tasks import prepare

    config = load_config(CONFIG_DIR / f"{name}.yaml", [f"output_root={tmp_path}"])
    prepared = prepare(config)
    nodes = {c.id: c for c in create_pipeline(
        config, prepared.task, prepared.source.tfds_feature_map).components}
    assert type(nodes["Evaluator"]).__name__ == evaluator
    if name == "digits_gan":
        assert nodes["Evaluator"].exec_properties["scorer_model"] == str(
            tmp_path.resolve() / "serving" / "digits")
        thresholds = json.loads(nodes["Evaluator"].exec_properties["thresholds"])
        assert thresholds["min_confidence"] == config.evaluate.min_confidence
