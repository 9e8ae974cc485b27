"""Generative models end to end on the bundled digits: the real CLI, TFX, MLMD, Beam, push.

1. VAE (pipeline/configs/digits_vae.yaml): every component executes, the GenerativeEvaluator
   blesses it, it is pushed; ``encode``/``decode`` answer over REST and gRPC through the
   embedded server; its reconstructions of held-out digits beat the train split's mean
   image by the configured ratio; the TFLite float32 decoder matches the SavedModel. A
   worse VAE (20 steps) is then not blessed: above the mean-image bar and more than
   evaluate.max_regression above the blessed version 1 (the resolver's baseline).
2. GAN (digits_gan.yaml) after a digits_cnn run into the same output root (its pushed
   classifier scores the samples): blessed, pushed; the generator answers noise over REST
   and gRPC; its samples, scored again here, meet the configured thresholds.
3. A GAN config whose scorer is missing: one line, exit 1, before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.pusher.push import versions
from pipeline.config import CONFIG_DIR
from tests.conftest import one_line_error, run_cli
from tests.e2e.helpers import dlpipe_run, eval_split, node_states, run_task
from tests.generative_helpers import IMAGE_SHAPE, IMAGE_SIZE, PIXEL_MAX

pytestmark = pytest.mark.e2e

VAE_CONFIG = CONFIG_DIR / "digits_vae.yaml"
GAN_CONFIG = CONFIG_DIR / "digits_gan.yaml"
COMPLETE = 3  # ml_metadata Execution.State
EXPECTED_NODES = {
    "ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
    "ValidationGate", "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator",
    "InfraValidator", "Pusher", "EdgeExport", "EdgePusher",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e_generative")


@pytest.fixture(scope="module")
def vae_run(root):
    return dlpipe_run(run_cli, root, config_file=VAE_CONFIG)


@pytest.fixture(scope="module")
def gan_run(root):
    # The scorer: the digits_cnn pipeline's pushed classifier (<serving_root>/digits).
    result, _, _ = dlpipe_run(run_cli, root, "edge.enabled=false",
                              "infra_validate.enabled=false")
    assert "blessed:  yes" in result.stdout, result.stdout + result.stderr
    return dlpipe_run(run_cli, root, config_file=GAN_CONFIG)


def _train_mean_image(config) -> np.ndarray:
    files = sorted(config.pipeline_root.glob("*ExampleGen/examples/*/Split-train/*"))
    spec = {"image": tf.io.FixedLenFeature([IMAGE_SIZE], tf.float32)}
    ds = tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")
    images = np.stack([tf.io.parse_single_example(r, spec)["image"].numpy() for r in ds])
    return images.mean(axis=0).reshape(IMAGE_SHAPE)


def _completed_blessed_pushed(run) -> None:
    result, run_id, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    states = node_states(config, run_id)
    assert set(states) == EXPECTED_NODES
    for node, execs in states.items():
        assert execs == [COMPLETE], (node, execs)
    assert "blessed:  yes (all thresholds passed)" in result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    assert versions(config.serving_model_dir) == [1]


def _serve(config):
    from serving.server import ModelServer, ServerOptions

    return ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_name=config.push.model_name,
        model_base_path=str(config.serving_model_dir))).start()


def _tflite(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for row in x:
        interpreter.set_tensor(inp["index"], row[None].astype(np.float32))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0])
    return np.stack(rows)


def test_vae_is_evaluated_blessed_and_pushed(vae_run):
    _completed_blessed_pushed(vae_run)
    result, _, config = vae_run
    metrics_line = next(line for line in result.stdout.splitlines()
                        if line.startswith("  metrics:"))
    assert "reconstruction_error" in metrics_line and "mean_image_error" in metrics_line
    assert metrics_line.endswith("(eval split)")


def _report(config, run_id) -> str:
    return (config.pipeline_root / "_runs" / run_id / "report.html").read_text()


def test_vae_report_and_model_card(vae_run):
    _, run_id, config = vae_run
    report = _report(config, run_id)
    assert "reconstructions of them (even rows)" in report  # the generated-samples figure
    assert "reconstruction_ratio" in report
    card = (config.serving_model_dir / "model_cards" / "1.md").read_text()
    assert "- Encodes 8x8x1 images into a latent code" in card
    assert "Classifies" not in card and "reconstruction_error" in card


def test_vae_reconstructs_held_out_digits_better_than_the_mean_image(vae_run):
    _, run_id, config = vae_run
    images, _ = eval_split(config, run_task(config, run_id))
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    reconstruction = loaded.signatures["serving_default"](
        image=tf.constant(images, tf.float32))["image"].numpy()
    # Errors on the model's scale (pixels / 16), as the evaluator computes them.
    error = float(np.mean((reconstruction - images) ** 2)) / 16**2
    baseline = float(np.mean((_train_mean_image(config) - images) ** 2)) / 16**2
    assert error <= config.evaluate.max_reconstruction_ratio * baseline, (error, baseline)


def test_vae_encode_and_decode_answer_over_rest_and_grpc(vae_run):
    from serving.client import GrpcClient, RestClient

    _, run_id, config = vae_run
    images, _ = eval_split(config, run_task(config, run_id))
    images = images[:8].astype(np.float32)
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    want_z = loaded.signatures["encode"](image=tf.constant(images))["z_mean"].numpy()
    name = config.push.model_name
    server = _serve(config)
    try:
        rest = RestClient(port=server.rest_port)
        encoded = rest.predict(name, instances=images.tolist(), signature_name="encode")
        z = np.array([p["z_mean"] for p in encoded["predictions"]], dtype=np.float32)
        np.testing.assert_allclose(z, want_z, atol=1e-5)
        decoded = rest.predict(name, instances=z.tolist(), signature_name="decode")
        rest_images = np.array(decoded["predictions"], dtype=np.float32)
        assert rest_images.shape == (8, *IMAGE_SHAPE)
        assert 0.0 <= rest_images.min() and rest_images.max() <= PIXEL_MAX
        grpc = GrpcClient(port=server.grpc_port)
        out = grpc.predict(name, {"z": z}, signature_name="decode")
        np.testing.assert_allclose(out["image"], rest_images, atol=1e-5)
        grpc.close()
        rest.close()
    finally:
        server.stop()


def test_vae_edge_decoder_matches_the_saved_model(vae_run):
    _, _, config = vae_run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == set(config.edge.formats)
    z = np.random.default_rng(5).standard_normal((16, 8)).astype(np.float32)
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    want = loaded.signatures["decode"](z=tf.constant(z))["image"].numpy()
    got = _tflite(edge_dir / metadata["formats"]["float32"]["file"], z)
    np.testing.assert_allclose(got * PIXEL_MAX, want, atol=1e-4)  # edge: [0, 1]


def test_worse_vae_is_not_blessed_against_the_mean_image_and_the_blessed_model(root, vae_run):
    result, run_id, config = dlpipe_run(run_cli, root, "train.train_steps=20",
                                        "train.epochs=1", config_file=VAE_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    verdict = next(line for line in result.stdout.splitlines() if "blessed:" in line)
    assert "blessed:  NO (reconstruction_error = " in verdict
    assert "x mean-image error" in verdict
    assert "above the latest blessed model's" in verdict  # the resolver's baseline
    assert "vs. latest blessed model: " in result.stdout
    assert "pushed:   no (the model was not blessed)" in result.stdout
    assert versions(config.serving_model_dir) == [1]
    assert node_states(config, run_id)["Evaluator"] == [COMPLETE]


def test_gan_is_evaluated_blessed_and_pushed(gan_run):
    _completed_blessed_pushed(gan_run)
    result, _, config = gan_run
    metrics_line = next(line for line in result.stdout.splitlines()
                        if line.startswith("  metrics:"))
    assert "mean_confidence" in metrics_line and "class_coverage" in metrics_line
    assert metrics_line.endswith("(generated samples, scored by the digits classifier)")


def test_gan_report_shows_scored_samples(gan_run):
    _, run_id, config = gan_run
    report = _report(config, run_id)
    assert "samples of the GAN&#39;s generator" in report
    assert "Titles: the class the scorer" in report


def test_gan_samples_meet_the_quality_bar(gan_run):
    """Fresh noise through the pushed generator, scored by the pushed digits classifier."""
    _, _, config = gan_run
    generator = tf.saved_model.load(str(config.serving_model_dir / "1"))
    scorer = tf.saved_model.load(str(config.serving_root / "digits" / "1"))
    noise = np.random.default_rng(123).standard_normal((1000, 16)).astype(np.float32)
    images = generator.signatures["generate"](noise=tf.constant(noise))["image"]
    probabilities = scorer.signatures["serving_default"](image=images)["probabilities"].numpy()
    confidence = float(probabilities.max(axis=1).mean())
    shares = np.bincount(probabilities.argmax(axis=1), minlength=10) / len(noise)
    coverage = float(np.mean(shares >= 0.5 / 10))
    assert confidence >= config.evaluate.min_confidence, confidence
    assert coverage >= config.evaluate.min_class_coverage, (coverage, shares)


def test_gan_generator_answers_noise_over_rest_and_grpc(gan_run):
    from serving.client import GrpcClient, RestClient

    _, _, config = gan_run
    noise = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    name = config.push.model_name
    server = _serve(config)
    try:
        rest = RestClient(port=server.rest_port)
        images = np.array(rest.predict(name, instances=noise.tolist())["predictions"],
                          dtype=np.float32)
        assert images.shape == (4, *IMAGE_SHAPE)
        assert 0.0 <= images.min() and images.max() <= PIXEL_MAX
        grpc = GrpcClient(port=server.grpc_port)
        out = grpc.predict(name, {"noise": noise}, signature_name="generate")
        np.testing.assert_allclose(out["image"], images, atol=1e-5)
        grpc.close()
        rest.close()
    finally:
        server.stop()
    edge_dir = config.edge_root / name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    got = _tflite(edge_dir / metadata["formats"]["float32"]["file"], noise)
    np.testing.assert_allclose(got * PIXEL_MAX, images, atol=1e-4)


def test_gan_without_its_scorer_fails_before_anything_runs(tmp_path):
    result = run_cli("run", "--config", str(GAN_CONFIG), "--set", f"output_root={tmp_path}")
    scorer = tmp_path.resolve() / "serving" / "digits"
    one_line_error(result, 1, f"Scorer model {scorer} does not exist",
                   "Run the digits_cnn pipeline first")
    assert not (tmp_path / "pipeline").exists()
