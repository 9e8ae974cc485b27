"""Facts about the digits GAN task: generate 8x8 digits from noise.

The data's names and shapes are the digits task's (``models.digits.features``); the
serving contract is ``models.generative.contract``'s. Everything else imports these.
"""

from models.digits import features as digits
from models.generative import contract

EVALUATION = contract.EVALUATION
"""Blessed by the GenerativeEvaluator (components/generative_evaluator), not TFMA."""
GENERATIVE_KIND = contract.GAN

PURPOSE = "Generates 8x8 digit images from standard normal noise: a GAN generator."
"""What the model is for (the model card's first line)."""

IMAGE_KEY = digits.IMAGE_KEY
LABEL_KEY = digits.LABEL_KEY
"""Read by data validation and the report; the model never sees labels (and declares no
classes: it does not classify)."""
IMAGE_SHAPE = digits.IMAGE_SHAPE
IMAGE_SIZE = digits.IMAGE_SIZE
PIXEL_MAX = digits.PIXEL_MAX

MODEL_INPUT_KEY = digits.MODEL_INPUT_KEY
"""The transformed feature the model reads: pixels in [0, 1], shaped ``MODEL_INPUT_SHAPE``."""
MODEL_INPUT_SHAPE = digits.MODEL_INPUT_SHAPE
MEAN_IMAGE_KEY = contract.MEAN_IMAGE_KEY

SERVING_SIGNATURE = contract.SERVING_SIGNATURE
GENERATE_SIGNATURE = contract.GENERATE_SIGNATURE
EDGE_SIGNATURE = contract.EDGE_SIGNATURE
IMAGE = contract.IMAGE
LATENT_INPUT = contract.NOISE_INPUT

# The samples' scorer: the digits image classifier, called through its serving contract
# (models.digits.features): raw images in, class probabilities out.
SCORER_SIGNATURE = digits.SERVING_SIGNATURE
SCORER_INPUT = digits.IMAGE_KEY
SCORER_OUTPUT = digits.PROBABILITIES
