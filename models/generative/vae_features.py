"""Facts about the digits VAE task: encode 8x8 digits to a latent code and decode them.

The data's names and shapes are the digits task's (``models.digits.features``); the
serving contract is ``models.generative.contract``'s. Everything else imports these.
"""

from models.digits import features as digits
from models.generative import contract

EVALUATION = contract.EVALUATION
"""Blessed by the GenerativeEvaluator (components/generative_evaluator), not TFMA."""
GENERATIVE_KIND = contract.VAE

PURPOSE = ("Encodes 8x8 digit images into a latent code (`encode`), decodes codes into "
           "images (`decode`) and reconstructs images (`serving_default`): a variational "
           "autoencoder.")
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
ENCODE_SIGNATURE = contract.ENCODE_SIGNATURE
DECODE_SIGNATURE = contract.DECODE_SIGNATURE
EVALUATE_SIGNATURE = contract.EVALUATE_SIGNATURE
EDGE_SIGNATURE = contract.EDGE_SIGNATURE
IMAGE = contract.IMAGE
LATENT_INPUT = contract.LATENT_INPUT
