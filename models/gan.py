"""A DCGAN-style generative adversarial network for small images (pure builders)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import layers


def build_generator(image_shape: Sequence[int] = (8, 8, 1), latent_dim: int = 16,
                    base_filters: int = 64, name: str = "generator") -> keras.Model:
    """Noise ``[batch, latent_dim]`` -> image in [0, 1] of ``image_shape`` (h, w, c).

    Starts from a ``h/4 x w/4`` feature map and doubles it twice with strided transposed
    convolutions (so h and w must be multiples of 4).
    """
    h, w, c = _image_shape(image_shape)
    inputs = keras.Input(shape=(latent_dim,), name="noise")
    x = layers.Dense((h // 4) * (w // 4) * base_filters, name="project")(inputs)
    x = layers.LeakyReLU(0.2, name="project_act")(x)
    x = layers.Reshape((h // 4, w // 4, base_filters), name="project_reshape")(x)
    for i, filters in enumerate((base_filters, base_filters // 2), start=1):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                   name=f"block{i}_deconv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"block{i}_act")(x)
    outputs = layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="image")(x)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(image_shape: Sequence[int] = (8, 8, 1), base_filters: int = 32,
                        dropout: float = 0.3, name: str = "discriminator") -> keras.Model:
    """Image -> real/fake logit ``[batch, 1]``."""
    h, w, c = _image_shape(image_shape)
    inputs = keras.Input(shape=(h, w, c), name="image")
    x = inputs
    for i, filters in enumerate((base_filters, base_filters * 2), start=1):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", name=f"block{i}_conv")(x)
        x = layers.LeakyReLU(0.2, name=f"block{i}_act")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"block{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, layers.Dense(1, name="logit")(x), name=name)


def _image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[0] % 4 or shape[1] % 4 or shape[2] < 1:
        raise ValueError(
            f"image_shape must be (h, w[, c]) with h and w multiples of 4. Received: {shape!r}"
        )
    return shape


class GAN(keras.Model):
    """Generator and discriminator trained adversarially (non-saturating loss).

    ``label_smoothing`` is one-sided: the discriminator's targets for real images are
    ``1 - label_smoothing`` (fakes stay 0), which keeps it from growing overconfident and
    the generator's gradients from vanishing.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int,
                 seed: int = 0, label_smoothing: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.label_smoothing = label_smoothing
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self) -> list:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def call(self, noise, training: bool = False):
        return self.generator(noise, training=training)

    def _noise(self, batch):
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def train_step(self, data):
        real = data[0] if isinstance(data, tuple) else data
        batch = tf.shape(real)[0]
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        fake = self.generator(self._noise(batch), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            real_targets = tf.ones_like(real_logits) * (1.0 - self.label_smoothing)
            d_loss = (bce(real_targets, real_logits)
                      + bce(tf.zeros_like(fake_logits), fake_logits))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(
            zip(grads, self.discriminator.trainable_weights, strict=True))
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(
                self.generator(self._noise(batch), training=True), training=True)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def build_gan(image_shape: Sequence[int] = (8, 8, 1), latent_dim: int = 16,
              generator_filters: int = 64, discriminator_filters: int = 32,
              dropout: float = 0.3, label_smoothing: float = 0.0, seed: int = 0,
              name: str = "gan") -> GAN:
    """Builds an (uncompiled) GAN; compile it with ``d_optimizer`` and ``g_optimizer``.

    Args:
      image_shape: ``(h, w)`` or ``(h, w, c)``, h and w multiples of 4.
      latent_dim: Size of the generator's noise input.
      generator_filters: Filters of the generator's first transposed convolution.
      discriminator_filters: Filters of the discriminator's first convolution.
      dropout: Dropout after each discriminator block.
      label_smoothing: One-sided: real targets are ``1 - label_smoothing``.
      seed: Seed of the training noise.
      name: Model name.
    """
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1. Received: latent_dim={latent_dim!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing="
                         f"{label_smoothing!r}")
    generator = build_generator(image_shape, latent_dim, generator_filters)
    discriminator = build_discriminator(image_shape, discriminator_filters, dropout)
    gan = GAN(generator, discriminator, latent_dim, seed=seed,
              label_smoothing=label_smoothing, name=name)
    gan.build((None, latent_dim))
    return gan
