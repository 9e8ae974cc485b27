"""SavedModel exports of the generative models, with the Transform graph inside.

Signatures and their tensors are listed in ``models.generative.contract``. Images cross the
serving signatures in raw units (what the examples hold: grey levels 0..16 for the digits),
shaped ``[batch, height, width, channels]``: inputs go through the Transform graph (scaled
to [0, 1], as in training), outputs are mapped back with the inverse of that same scaling,
read from the Transform graph. The edge signatures return the model's [0, 1] intensities.
The task (``models.tasks.spec.Task``) names the image feature and its shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf

from models import edge
from models import export as export_lib
from models.generative import contract
from models.tasks.export import write_task_info
from models.tasks.learned import learned_facts
from models.tasks.spec import Task


def raw_scaling(tft_layer: Any, task: Task, raw_dtype: tf.DType = tf.float32
                ) -> tuple[float, float]:
    """``(low, scale)`` with ``raw = low + scale * pixel`` for the model's pixels in [0, 1].

    Read from the Transform graph by feeding it images of raw 0 and raw 1, so it is the
    exact inverse of the training-time scaling (``tft.scale_to_0_1`` of the data's range).

    Raises:
      ValueError: if the Transform graph does not scale pixels (its range is empty).
    """
    def scaled(value: float) -> float:
        raw = tf.cast(tf.fill([1, task.image_size], value), raw_dtype)
        out = tft_layer({task.image: raw})[task.model_input]
        return float(tf.reshape(out, [-1])[0])

    at_zero, at_one = scaled(0.0), scaled(1.0)
    if at_one == at_zero:
        raise ValueError(
            "The Transform graph maps every pixel value to the same output, so images "
            f"cannot be mapped back to raw units. Received: f(0)={at_zero}, f(1)={at_one}"
        )
    scale = 1.0 / (at_one - at_zero)
    return 0.0 - at_zero * scale, scale  # 0.0 - x: no "-0" for a zero offset


class _Exported(tf.Module):
    """The trackable root: models, the Transform layer and the raw-unit scaling."""

    def __init__(self, task: Task, tft_output: Any, **models: Any) -> None:
        super().__init__()
        self.tft_layer = tft_layer = tft_output.transform_features_layer()
        self.raw_dtype = tft_output.raw_feature_spec()[task.image].dtype
        for name, model in models.items():
            setattr(self, name, model)
        self.image_key, self.input_key = task.image, task.model_input
        self.image_size, self.image_shape = task.image_size, tuple(task.image_shape)
        self.low, self.scale = raw_scaling(tft_layer, task, self.raw_dtype)

    @property
    def raw_range(self) -> tuple[float, float]:
        """The raw pixel range exported images are in: ``(low, low + scale)``."""
        return self.low, self.low + self.scale

    def transform(self, flat_raw: tf.Tensor) -> dict[str, tf.Tensor]:
        if self.raw_dtype.is_integer:
            flat_raw = tf.round(flat_raw)
        return self.tft_layer({self.image_key: tf.cast(flat_raw, self.raw_dtype)})

    def model_input(self, image: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(tf.cast(image, tf.float32), [-1, self.image_size])
        return self.transform(flat)[self.input_key]

    def as_image(self, pixels: tf.Tensor) -> tf.Tensor:
        """Model output in [0, 1] -> ``[batch, *image_shape]`` in [0, 1] (edge)."""
        return tf.reshape(pixels, [-1, *self.image_shape])

    def to_raw(self, pixels: tf.Tensor) -> tf.Tensor:
        """Model output in [0, 1] -> ``[batch, *image_shape]`` in raw units (serving)."""
        return self.low + self.scale * self.as_image(pixels)


def _image_spec(task: Task) -> tf.TensorSpec:
    return tf.TensorSpec([None, *task.image_shape], tf.float32, name=contract.IMAGE)


def _save(module: tf.Module, export_dir: str | Path, signatures: dict,
          spec: edge.EdgeSpec, task: Task, tft_output: Any) -> Path:
    export_dir = Path(export_dir)
    export_lib.save_with_signatures(module, export_dir, signatures)
    edge.write_edge_spec(export_dir, spec)
    write_task_info(export_dir, task, learned_facts(task, tft_output))
    return export_dir


def export_vae(vae: Any, tft_output: Any, export_dir: str | Path, task: Task,
               seed: int = 0) -> Path:
    """Exports a trained ``models.vae.VAE`` with encode, decode, evaluate, serving, edge.

    Args:
      vae: The trained VAE (its ``encoder`` and ``decoder``).
      tft_output: The ``tft.TFTransformOutput`` of the run (scaling and the mean image).
      export_dir: Directory to write.
      task: The resolved task (the image feature and shape).
      seed: Seed of ``evaluate``'s latent samples (the ELBO estimate is deterministic).

    Returns:
      The export directory.
    """
    from models.vae import bernoulli_nll, kl_divergence

    module = _Exported(task, tft_output, encoder=vae.encoder, decoder=vae.decoder)
    latent_dim = int(vae.decoder.input_shape[-1])
    image_feature = tf.io.FixedLenFeature([task.image_size], module.raw_dtype)
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name=contract.LATENT_INPUT)

    @tf.function(input_signature=[_image_spec(task)])
    def encode(image: tf.Tensor) -> dict[str, tf.Tensor]:
        z_mean, z_log_var = module.encoder(module.model_input(image), training=False)
        return {contract.Z_MEAN: z_mean, contract.Z_LOG_VAR: z_log_var}

    @tf.function(input_signature=[z_spec])
    def decode(z: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.IMAGE: module.to_raw(module.decoder(z, training=False))}

    @tf.function(input_signature=[z_spec])
    def decode_edge(z: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.IMAGE: module.as_image(module.decoder(z, training=False))}

    @tf.function(input_signature=[_image_spec(task)])
    def reconstruct(image: tf.Tensor) -> dict[str, tf.Tensor]:
        z_mean, _ = module.encoder(module.model_input(image), training=False)
        return {contract.IMAGE: module.to_raw(module.decoder(z_mean, training=False))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                                name=contract.EXAMPLES_INPUT)])
    def evaluate(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(inputs, {task.image: image_feature})
        transformed = module.transform(parsed[task.image])
        images = transformed[task.model_input]
        mean_image = transformed[contract.MEAN_IMAGE_KEY]
        batch = tf.shape(images)[0]

        z_mean, z_log_var = module.encoder(images, training=False)
        reconstruction = module.decoder(z_mean, training=False)
        # Monte Carlo estimate of the expected reconstruction loss under q(z|x), with a
        # fixed seed: the same examples in the same batches always score the same.
        noise = tf.random.stateless_normal(
            [contract.ELBO_SAMPLES, batch, latent_dim], seed=[seed, 0])
        z = z_mean[None] + tf.exp(0.5 * z_log_var)[None] * noise
        decoded = module.decoder(tf.reshape(z, [-1, latent_dim]), training=False)
        repeated = tf.tile(images[None], [contract.ELBO_SAMPLES] + [1] * images.shape.rank)
        nll = tf.reshape(
            bernoulli_nll(tf.reshape(repeated, tf.shape(decoded)), decoded),
            [contract.ELBO_SAMPLES, batch])
        kl = kl_divergence(z_mean, z_log_var)

        def mse(prediction: tf.Tensor) -> tf.Tensor:
            return tf.reduce_mean(tf.reshape(tf.square(prediction - images), [batch, -1]),
                                  axis=1)

        return {
            contract.RECONSTRUCTION_ERROR: mse(reconstruction),
            contract.NEG_ELBO: tf.reduce_mean(nll, axis=0) + kl,
            contract.KL: kl,
            contract.MEAN_IMAGE_ERROR: mse(mean_image),
            contract.MEAN_IMAGE_NLL: bernoulli_nll(images, mean_image),
        }

    signatures = {
        contract.SERVING_SIGNATURE: reconstruct.get_concrete_function(),
        contract.ENCODE_SIGNATURE: encode.get_concrete_function(),
        contract.DECODE_SIGNATURE: decode.get_concrete_function(),
        contract.EVALUATE_SIGNATURE: evaluate.get_concrete_function(),
        contract.EDGE_SIGNATURE: decode_edge.get_concrete_function(),
    }
    spec = contract.edge_spec(contract.VAE, latent_dim, module.raw_range)
    return _save(module, export_dir, signatures, spec, task, tft_output)


def export_gan(gan: Any, tft_output: Any, export_dir: str | Path, task: Task) -> Path:
    """Exports a trained ``models.gan.GAN``'s generator: serving_default, generate, edge.

    Args:
      gan: The trained GAN (its ``generator`` and ``latent_dim``).
      tft_output: The ``tft.TFTransformOutput`` of the run (the pixel scaling).
      export_dir: Directory to write.
      task: The resolved task (the image feature and shape).

    Returns:
      The export directory.
    """
    module = _Exported(task, tft_output, generator=gan.generator)
    noise_spec = tf.TensorSpec([None, gan.latent_dim], tf.float32, name=contract.NOISE_INPUT)

    @tf.function(input_signature=[noise_spec])
    def generate(noise: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.IMAGE: module.to_raw(module.generator(noise, training=False))}

    @tf.function(input_signature=[noise_spec])
    def generate_edge(noise: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.IMAGE: module.as_image(module.generator(noise, training=False))}

    fn = generate.get_concrete_function()
    signatures = {contract.SERVING_SIGNATURE: fn, contract.GENERATE_SIGNATURE: fn,
                  contract.EDGE_SIGNATURE: generate_edge.get_concrete_function()}
    spec = contract.edge_spec(contract.GAN, gan.latent_dim, module.raw_range)
    return _save(module, export_dir, signatures, spec, task, tft_output)

