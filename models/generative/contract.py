"""The serving contract of generative models: signature, input, output and metric names.

The one owner of these names: the exports (``models.generative.export``), the
GenerativeEvaluator, the InfraValidator's noise inputs and the tests import them. Every image
a signature takes or returns is in raw units (the data's pixel values, e.g. the digits' grey
levels 0..16): the Transform graph inside the SavedModel scales inputs to [0, 1] and scales
outputs back.

VAE SavedModel:
  serving_default: ``image`` float32 [batch, h, w, c] -> ``image`` (the reconstruction,
    decoded from z_mean).
  encode: ``image`` -> ``z_mean``, ``z_log_var`` float32 [batch, latent].
  decode: ``z`` float32 [batch, latent] -> ``image``.
  evaluate: ``inputs`` string [batch] of serialized tf.Example -> per-example metrics
    (``EVALUATE_OUTPUTS``), what the GenerativeEvaluator aggregates.
  edge: the decoder (``z`` -> ``image``) with pixels in [0, 1], what the TFLite and ONNX
    files convert.

GAN SavedModel:
  serving_default, generate: ``noise`` float32 [batch, latent] -> ``image``.
  edge: the generator with pixels in [0, 1].

The edge signatures return pixel intensities in [0, 1] (the model's own scale) rather than
raw units: what an app draws, and the scale the edge formats' absolute parity gates
(``components/edge_export/formats.py``: 1e-5 for float32/ONNX, 1e-2 for float16) are meant
for; ``edge_spec.json`` says how to get raw units back.
"""

from models import edge

VAE = "vae"
GAN = "gan"
KINDS = (VAE, GAN)
"""The task kinds the GenerativeEvaluator blesses instead of TFMA (``models.tasks.spec``)."""

SERVING_SIGNATURE = edge.SERVING_SIGNATURE
EDGE_SIGNATURE = edge.EDGE_SIGNATURE
ENCODE_SIGNATURE = "encode"
DECODE_SIGNATURE = "decode"
EVALUATE_SIGNATURE = "evaluate"
GENERATE_SIGNATURE = "generate"

IMAGE = "image"
"""Input of serving_default/encode and output of every signature returning images."""
LATENT_INPUT = "z"
"""Input of the VAE's decode and edge signatures."""
NOISE_INPUT = "noise"
"""Input of the GAN's signatures: standard normal noise."""
EXAMPLES_INPUT = "inputs"
"""Input of ``evaluate``: serialized tf.Example strings."""
Z_MEAN = "z_mean"
Z_LOG_VAR = "z_log_var"

MEAN_IMAGE_KEY = "mean_image_xf"
"""Transform output: the train split's mean image in [0, 1] (a tft.mean analyzer),
repeated for every example; the VAE's baseline."""

# Per-example outputs of the VAE's ``evaluate`` signature (pixels in [0, 1] as the model
# sees them; nats summed over pixels).
RECONSTRUCTION_ERROR = "reconstruction_error"
"""Mean squared error of the reconstruction (decoded from z_mean) over pixels."""
NEG_ELBO = "neg_elbo"
"""Negative evidence lower bound: Bernoulli reconstruction loss plus the KL term."""
KL = "kl"
"""KL divergence of the approximate posterior from the unit Gaussian prior."""
MEAN_IMAGE_ERROR = "mean_image_error"
"""Mean squared error of the train split's mean image: the baseline reconstruction."""
MEAN_IMAGE_NLL = "mean_image_nll"
"""Negative log-likelihood under independent Bernoulli pixels with the mean image as
probabilities: the baseline for the negative ELBO."""
EVALUATE_OUTPUTS = (RECONSTRUCTION_ERROR, NEG_ELBO, KL, MEAN_IMAGE_ERROR, MEAN_IMAGE_NLL)

ELBO_SAMPLES = 16
"""Latent samples per example in ``evaluate``'s Monte Carlo estimate of the ELBO."""


def edge_spec(kind: str, latent_dim: int, image_range: tuple[float, float]) -> edge.EdgeSpec:
    """The edge spec of a generative model: its decoder or generator, fed normal noise.

    Args:
      kind: ``vae`` or ``gan``.
      latent_dim: Size of the latent / noise input.
      image_range: ``(low, high)`` of the raw pixels the output is in.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}. Received: kind={kind!r}")
    low, high = image_range
    what = "the VAE decoder" if kind == VAE else "the GAN generator"
    return edge.EdgeSpec(
        input_name=LATENT_INPUT if kind == VAE else NOISE_INPUT,
        input_shape=(int(latent_dim),),
        output_name=IMAGE,
        task="generation",
        input_source="normal",
        normalization="none: feed standard normal samples (mean 0, variance 1)",
        output_meaning=(f"an image from {what}, pixel intensities in [0, 1]; raw pixel "
                        f"values (what the serving signatures return) are {low:g} + "
                        f"{high - low:g} x intensity"),
    )
