"""tf.Transform preprocessing for the digits task.

The transform graph is exported inside the served model, so clients send raw pixels
(0..16) and training and serving share this exact code.
"""

import tensorflow as tf
import tensorflow_transform as tft

from models.digits import features


def preprocessing_fn(inputs: dict) -> dict:
    """Scales pixels to [0, 1] with the dataset's min and max and shapes them as an image."""
    image = tf.cast(inputs[features.IMAGE_KEY], tf.float32)
    scaled = tft.scale_to_0_1(image)
    outputs = {
        features.MODEL_INPUT_KEY: tf.reshape(
            scaled, [-1, *features.IMAGE_SHAPE]
        ),
    }
    outputs[features.LABEL_KEY] = inputs[features.LABEL_KEY]
    return outputs
