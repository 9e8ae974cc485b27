"""A variational autoencoder for small images (pure builders: they never train).

``build_vae`` returns a ``VAE`` model whose ``train_step`` maximizes the evidence lower bound
(ELBO): a Bernoulli reconstruction term on pixels scaled to [0, 1] plus the KL divergence of
the approximate posterior from a unit Gaussian. Its encoder and decoder are separate
``keras.Model``s so each can be exported as its own signature.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import layers


def _check(image_shape: Sequence[int], latent_dim: int, hidden_units: Sequence[int]) -> tuple:
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"image_shape must be (h, w) or (h, w, c). Received: {shape!r}")
    if latent_dim < 1 or not hidden_units or min(hidden_units) < 1:
        raise ValueError(
            f"latent_dim and hidden_units must be positive. Received: latent_dim="
            f"{latent_dim!r}, hidden_units={tuple(hidden_units)!r}"
        )
    return shape


def build_vae_encoder(image_shape: Sequence[int], latent_dim: int = 8,
                      hidden_units: Sequence[int] = (128, 64), name: str = "vae_encoder"
                      ) -> keras.Model:
    """Image in [0, 1] -> (``z_mean``, ``z_log_var``), each ``[batch, latent_dim]``."""
    shape = _check(image_shape, latent_dim, hidden_units)
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"enc_block{i}_dense")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_vae_decoder(image_shape: Sequence[int], latent_dim: int = 8,
                      hidden_units: Sequence[int] = (128, 64), name: str = "vae_decoder"
                      ) -> keras.Model:
    """Latent ``[batch, latent_dim]`` -> image probabilities in [0, 1] of ``image_shape``."""
    shape = _check(image_shape, latent_dim, hidden_units)
    inputs = keras.Input(shape=(latent_dim,), name="latent")
    x = inputs
    for i, units in enumerate(reversed(tuple(hidden_units)), start=1):
        x = layers.Dense(units, activation="relu", name=f"dec_block{i}_dense")(x)
    size = 1
    for d in shape:
        size *= d
    x = layers.Dense(size, activation="sigmoid", name="pixels")(x)
    return keras.Model(inputs, layers.Reshape(shape, name="image")(x), name=name)


def bernoulli_nll(images, probabilities, eps: float = 1e-6):
    """Per-example negative log-likelihood (nats, summed over pixels) of ``images`` in
    [0, 1] under independent Bernoulli pixels with ``probabilities``; ``[batch]``."""
    batch = tf.shape(images)[0]
    flat_true = tf.reshape(images, [batch, -1])
    flat_pred = tf.clip_by_value(tf.reshape(probabilities, [batch, -1]), eps, 1 - eps)
    bce = -(flat_true * tf.math.log(flat_pred) + (1 - flat_true) * tf.math.log(1 - flat_pred))
    return tf.reduce_sum(bce, axis=1)


def kl_divergence(z_mean, z_log_var):
    """Per-example KL divergence of N(z_mean, exp(z_log_var)) from N(0, I); ``[batch]``."""
    return -0.5 * tf.reduce_sum(1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=1)


class VAE(keras.Model):
    """Encoder + decoder trained on the negative ELBO; ``call`` reconstructs from z_mean."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, images, training: bool = False):
        z_mean, _ = self.encoder(images, training=training)
        return self.decoder(z_mean, training=training)

    def elbo_terms(self, images, training: bool = False) -> dict:
        """Per-batch means of the reconstruction loss (nats) and the KL term."""
        z_mean, z_log_var = self.encoder(images, training=training)
        noise = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
        z = z_mean + tf.exp(0.5 * z_log_var) * noise
        reconstruction = self.decoder(z, training=training)
        reconstruction_loss = tf.reduce_mean(bernoulli_nll(images, reconstruction))
        kl_loss = tf.reduce_mean(kl_divergence(z_mean, z_log_var))
        return {"loss": reconstruction_loss + kl_loss,
                "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    def _track(self, terms: dict) -> dict:
        self.loss_tracker.update_state(terms["loss"])
        self.reconstruction_tracker.update_state(terms["reconstruction_loss"])
        self.kl_tracker.update_state(terms["kl_loss"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            terms = self.elbo_terms(images, training=True)
        grads = tape.gradient(terms["loss"], self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._track(terms)

    def test_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        return self._track(self.elbo_terms(images))


def build_vae(image_shape: Sequence[int], latent_dim: int = 8,
              hidden_units: Sequence[int] = (128, 64), seed: int = 0, name: str = "vae"
              ) -> VAE:
    """Builds an (uncompiled) VAE for images with pixels in [0, 1].

    Args:
      image_shape: ``(height, width)`` or ``(height, width, channels)``.
      latent_dim: Size of the latent code.
      hidden_units: Dense layers of the encoder (the decoder mirrors them).
      seed: Seed of the reparameterization noise.
      name: Model name.
    """
    encoder = build_vae_encoder(image_shape, latent_dim, hidden_units)
    decoder = build_vae_decoder(image_shape, latent_dim, hidden_units)
    vae = VAE(encoder, decoder, seed=seed, name=name)
    vae.build((None, *tuple(image_shape)))
    return vae
