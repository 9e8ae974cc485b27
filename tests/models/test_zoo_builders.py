"""Model zoo builders: output shapes, parameter counts that scale with their hyperparameters,
named layers, argument errors, and a few real training steps for the custom train loops."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from models import gan, mlp, sequence, vae

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images / 16.0).astype("float32"), d.target


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_on_float_sequences(cell, bidirectional):
    model = sequence.build_rnn_classifier((8, 8), 10, cell=cell, units=8,
                                          bidirectional=bidirectional)
    out = model(RNG.random((3, 8, 8), dtype=np.float32)).numpy()
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    name = "block1_bidirectional" if bidirectional else f"block1_{cell}"
    assert name in [layer.name for layer in model.layers]


def test_rnn_on_tokens_and_scaling():
    small = sequence.build_rnn_classifier((20,), 2, vocab_size=100, units=4, embedding_dim=4)
    big = sequence.build_rnn_classifier((20,), 2, vocab_size=100, units=16, embedding_dim=4)
    two = sequence.build_rnn_classifier((20,), 2, vocab_size=100, units=4, embedding_dim=4,
                                        num_layers=2)
    ids = RNG.integers(0, 100, size=(2, 20)).astype("int32")
    assert small(ids).shape == (2, 2)
    assert small.count_params() < big.count_params()
    assert small.count_params() < two.count_params()
    # LSTM has 4 gates, GRU 3: same units, fewer GRU parameters.
    gru = sequence.build_rnn_classifier((20,), 2, vocab_size=100, cell="gru", units=16,
                                        embedding_dim=4)
    assert gru.count_params() < big.count_params()


def test_transformer_tokens_and_features():
    tokens = sequence.build_transformer_classifier((16,), 2, vocab_size=50, embed_dim=8,
                                                   num_heads=2, ff_dim=16)
    assert tokens(RNG.integers(0, 50, size=(4, 16)).astype("int32")).shape == (4, 2)
    feats = sequence.build_transformer_classifier((8, 8), 10, embed_dim=8,
                                                  num_heads=2, ff_dim=16, num_layers=2)
    assert feats(RNG.random((4, 8, 8), dtype=np.float32)).shape == (4, 10)
    names = [layer.name for layer in feats.layers]
    assert {"position_embedding", "block2_attention", "block2_norm2", "pool"} <= set(names)
    wider = sequence.build_transformer_classifier((8, 8), 10, embed_dim=16,
                                                  num_heads=2, ff_dim=16, num_layers=2)
    assert feats.count_params() < wider.count_params()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_token_rnn_embedding_and_bidirectional_parameter_counts(cell):
    """A text model's embedding has one row per token id; Bidirectional doubles the RNN."""
    def build(vocab_size, embedding_dim=8, bidirectional=False):
        return sequence.build_rnn_classifier((32,), 2, vocab_size=vocab_size, cell=cell, units=4,
                                             embedding_dim=embedding_dim,
                                             bidirectional=bidirectional)

    base = build(100)
    assert base.get_layer("token_embedding").count_params() == 100 * 8
    assert build(300).count_params() - base.count_params() == 200 * 8
    assert build(100, embedding_dim=16).count_params() > base.count_params()
    both = build(100, bidirectional=True)
    assert (both.get_layer("block1_bidirectional").count_params()
            == 2 * base.get_layer(f"block1_{cell}").count_params())
    ids = RNG.integers(0, 100, size=(3, 32)).astype("int32")
    assert both(ids).shape == (3, 2)


def test_transformer_token_and_position_embedding_parameter_counts():
    def build(vocab_size=100, length=32, embed_dim=8, num_layers=1, ff_dim=16):
        return sequence.build_transformer_classifier(
            (length,), 2, vocab_size=vocab_size, embed_dim=embed_dim, num_heads=2,
            ff_dim=ff_dim, num_layers=num_layers)

    base = build()
    assert base.get_layer("token_embedding").count_params() == 100 * 8
    assert base.get_layer("position_embedding").count_params() == 32 * 8
    assert build(vocab_size=300).count_params() - base.count_params() == 200 * 8
    assert build(length=64).count_params() - base.count_params() == 32 * 8
    assert build(num_layers=2).count_params() > base.count_params()
    assert build(ff_dim=32).count_params() > base.count_params()
    ids = RNG.integers(0, 100, size=(5, 32)).astype("int32")
    out = base(ids).numpy()
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_mlp_shapes_and_scaling():
    model = mlp.build_mlp((4,), 3, hidden_units=(8,))
    assert model.input_shape == mlp.build_mlp(4, 3).input_shape == (None, 4)
    assert model(RNG.random((5, 4), dtype=np.float32)).shape == (5, 3)
    assert model.count_params() < mlp.build_mlp(4, 3, hidden_units=(8, 8)).count_params()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: sequence.build_rnn_classifier((8,), 10), "vocab_size = 0"),
        (lambda: sequence.build_rnn_classifier((8, 8), 10, cell="rnn"), "cell"),
        (lambda: sequence.build_rnn_classifier((8, 8), 10, vocab_size=5), "vocab_size > 0"),
        (lambda: sequence.build_transformer_classifier((8, 8), 10, embed_dim=10,
                                                       num_heads=3), "multiple of num_heads"),
        (lambda: mlp.build_mlp(0, 3), "input_shape"),
        (lambda: mlp.build_mlp((4, 2, 1, 1), 3), "input_shape"),
        (lambda: mlp.build_mlp(4, 1), "num_outputs"),
        (lambda: vae.build_vae((8, 8), latent_dim=0), "latent_dim"),
        (lambda: gan.build_gan((6, 6)), "multiples of 4"),
    ],
)
def test_bad_arguments_say_what_was_received(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_vae_shapes_and_training_lowers_the_negative_elbo(digits):
    import keras

    images, _ = digits
    model = vae.build_vae((8, 8), latent_dim=4, hidden_units=(32,))
    z_mean, z_log_var = model.encoder(images[:3])
    assert z_mean.shape == z_log_var.shape == (3, 4)
    assert model.decoder(z_mean).shape == (3, 8, 8)
    assert model(images[:3]).shape == (3, 8, 8)
    assert model.count_params() < vae.build_vae((8, 8), 4, (64,)).count_params()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(images[:256], batch_size=64, verbose=0, return_dict=True)
    model.fit(images, epochs=3, batch_size=64, verbose=0)
    after = model.evaluate(images[:256], batch_size=64, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    assert after["kl_loss"] > 0


def test_gan_shapes_and_a_training_step(digits):
    import keras

    images, _ = digits
    model = gan.build_gan((8, 8, 1), latent_dim=8, generator_filters=16,
                          discriminator_filters=8)
    samples = model.generator(RNG.normal(size=(5, 8)).astype("float32")).numpy()
    assert samples.shape == (5, 8, 8, 1)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert model.discriminator(samples).shape == (5, 1)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-4), g_optimizer=keras.optimizers.Adam(2e-4))
    history = model.fit(images[:256, :, :, None], epochs=1, batch_size=64, verbose=0)
    assert np.isfinite(history.history["d_loss"][-1]) and np.isfinite(history.history["g_loss"][-1])
    bigger = gan.build_gan((8, 8, 1), latent_dim=8, generator_filters=32, discriminator_filters=8)
    assert model.generator.count_params() < bigger.generator.count_params()
