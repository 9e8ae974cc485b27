"""tf.Transform preprocessing for the generative digits tasks.

The digits' own preprocessing (pixels scaled to [0, 1] by the data's min and max), plus the
train split's mean image: a ``tft.mean`` analyzer (Transform analyzes the train split only),
repeated for every example. It is the VAE's baseline, and since the Transform graph is
inside the served model, the ``evaluate`` signature computes the baseline's error from it.
"""

import tensorflow as tf
import tensorflow_transform as tft

from models.digits import features
from models.digits import preprocessing as digits_preprocessing
from models.generative import contract


def preprocessing_fn(inputs: dict) -> dict:
    """The digits' scaled image and label, and the train split's mean image."""
    outputs = digits_preprocessing.preprocessing_fn(inputs)
    image = outputs[features.MODEL_INPUT_KEY]
    mean_image = tft.mean(image, reduce_instance_dims=False)
    outputs[contract.MEAN_IMAGE_KEY] = tf.zeros_like(image) + mean_image
    return outputs
