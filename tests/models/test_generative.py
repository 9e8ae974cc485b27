"""Generative exports round trip: the VAE's and GAN's signatures reloaded from the
SavedModel, in raw units through a real Transform graph, their edge specs, and the
embedded server answering them over REST and gRPC (the InfraValidator's check)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from models import edge
from models.generative import contract
from tests import generative_helpers as helpers


@pytest.fixture(scope="module")
def tft_output(tmp_path_factory):
    return helpers.analyze_digits(tmp_path_factory.mktemp("transform"))


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory, tft_output) -> Path:
    return helpers.export_tiny_vae(tmp_path_factory.mktemp("vae") / "model", tft_output)


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory, tft_output) -> Path:
    return helpers.export_tiny_gan(tmp_path_factory.mktemp("gan") / "model", tft_output)


def test_raw_scaling_is_the_transform_graphs_inverse(tft_output):
    from models.generative.export import raw_scaling

    low, scale = raw_scaling(tft_output.transform_features_layer(), helpers.digits_task())
    assert low == pytest.approx(0.0, abs=1e-6)
    assert scale == pytest.approx(16.0, rel=1e-6)  # the digits' grey levels are 0..16


def test_vae_signatures_take_and_return_raw_images(vae_dir):
    images, _ = helpers.digits()
    batch = tf.constant(images[500:508])
    loaded = tf.saved_model.load(str(vae_dir))
    assert set(loaded.signatures) == {"serving_default", "encode", "decode", "evaluate", "edge"}

    encoded = loaded.signatures["encode"](image=batch)
    assert encoded["z_mean"].shape == encoded["z_log_var"].shape == (8, 4)
    decoded = loaded.signatures["decode"](z=encoded["z_mean"])["image"].numpy()
    assert decoded.shape == (8, 8, 8, 1)
    assert 0.0 <= decoded.min() and decoded.max() <= 16.0
    # serving_default reconstructs: decode(encode(x).z_mean).
    np.testing.assert_allclose(loaded.signatures["serving_default"](image=batch)["image"],
                               decoded, atol=1e-5)
    # The edge signature is the decoder with pixels in [0, 1].
    np.testing.assert_allclose(loaded.signatures["edge"](z=encoded["z_mean"])["image"] * 16.0,
                               decoded, atol=1e-4)


def test_vae_evaluate_signature_scores_each_example(vae_dir):
    from dlpipe.examples import image_example

    images, _ = helpers.digits()
    raw = images[500:540]
    serialized = [image_example(img.reshape(-1), 0) for img in raw]
    loaded = tf.saved_model.load(str(vae_dir))
    out = {k: v.numpy() for k, v in loaded.signatures["evaluate"](
        inputs=tf.constant(serialized)).items()}
    assert set(out) == set(contract.EVALUATE_OUTPUTS)
    assert all(v.shape == (40,) for v in out.values())

    # The baseline is the train split's mean image, learned by Transform's tft.mean.
    scaled = raw / 16.0
    mean_image = images[: helpers.TRAIN_ROWS].mean(axis=0) / 16.0
    np.testing.assert_allclose(out["mean_image_error"],
                               ((scaled - mean_image) ** 2).mean(axis=(1, 2, 3)), rtol=1e-4)
    reconstruction = loaded.signatures["serving_default"](image=tf.constant(raw))["image"]
    np.testing.assert_allclose(out["reconstruction_error"],
                               ((reconstruction.numpy() / 16.0 - scaled) ** 2).mean(axis=(1, 2, 3)),
                               rtol=1e-3, atol=1e-6)
    assert (out["kl"] >= 0).all()
    assert (out["neg_elbo"] >= out["kl"]).all()
    # Deterministic: the ELBO's latent samples have a fixed seed.
    again = loaded.signatures["evaluate"](inputs=tf.constant(serialized))["neg_elbo"].numpy()
    np.testing.assert_array_equal(again, out["neg_elbo"])


def test_gan_signatures_and_edge_spec(gan_dir):
    loaded = tf.saved_model.load(str(gan_dir))
    assert set(loaded.signatures) == {"serving_default", "generate", "edge"}
    noise = tf.constant(np.random.default_rng(0).standard_normal((5, 6)), tf.float32)
    images = loaded.signatures["generate"](noise=noise)["image"].numpy()
    assert images.shape == (5, 8, 8, 1)
    assert 0.0 <= images.min() and images.max() <= 16.0
    np.testing.assert_allclose(loaded.signatures["serving_default"](noise=noise)["image"],
                               images)
    np.testing.assert_allclose(loaded.signatures["edge"](noise=noise)["image"] * 16.0, images,
                               atol=1e-4)
    spec = edge.read_edge_spec(gan_dir)
    assert (spec.input_name, spec.input_shape, spec.output_name) == ("noise", (6,), "image")
    assert (spec.task, spec.input_source) == ("generation", "normal")
    assert "[0, 1]" in spec.output_meaning and "0 + 16 x intensity" in spec.output_meaning


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_embedded_server_answers_every_signature(kind, vae_dir, gan_dir):
    """What the pipeline's InfraValidator runs: eval examples for the image signatures,
    seeded normal noise for the decoder/generator ones, over REST and gRPC."""
    from components.infra_validator.validate import validate_model
    from dlpipe.examples import image_example

    images, labels = helpers.digits()
    serialized = [image_example(img.reshape(-1), int(lab))
                  for img, lab in zip(images[600:612], labels[600:612], strict=True)]
    report = validate_model(vae_dir if kind == "vae" else gan_dir, serialized, batch_size=4)
    assert report.blessed, report.reason
    checked = {c.name for c in report.checks if c.protocol == "grpc"}
    expected = ({"serving_default", "encode", "decode", "evaluate", "edge"} if kind == "vae"
                else {"serving_default", "generate", "edge"})
    assert expected <= checked


def test_gan_builder_rejects_bad_label_smoothing():
    from models import gan

    with pytest.raises(ValueError, match="label_smoothing must be in"):
        gan.build_gan((8, 8), label_smoothing=1.0)


def test_generator_int8_is_gated_by_parity_on_noise(gan_dir, tmp_path):
    """A generator has no accuracy, so int8 is judged by max |diff| on normal noise."""
    from components.edge_export import formats as fmts
    from components.edge_export.export import export_edge

    # No data given (as from `dlpipe export-edge`): the edge spec's input_source says noise.
    report = export_edge(gan_dir, tmp_path, fmts.ExportOptions(formats=("int8",)))
    assert report.num_parity_examples == 200  # normal samples, not 64 synthetic uniform ones
    (result,) = report.formats
    assert result.error is None and result.accuracy is None
    assert result.gate == f"max_abs <= {fmts.INT8_PARITY:g}"
    assert result.blessed == (result.max_abs_diff <= fmts.INT8_PARITY)
