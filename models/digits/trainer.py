"""TFX Trainer ``run_fn`` for the digits task: build, fit, export with the serving contract."""

from __future__ import annotations

import logging
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft

from models import export, training
from models.digits import features


class DigitsServingModule(tf.Module):
    """Holds the trained classifier and the Transform graph; defines the exported signatures.

    Every signature runs the same Transform graph before the model, so serving sees the
    training-time preprocessing (no training/serving skew).
    """

    def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput):
        super().__init__(name="digits_serving")
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        raw_spec = tft_output.raw_feature_spec()
        raw_spec.pop(features.LABEL_KEY, None)
        self._raw_spec = raw_spec
        self._class_names = tf.constant(features.CLASS_NAMES)

    def _probabilities(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        transformed = self.tft_layer(raw)
        image = transformed[features.transformed_name(features.IMAGE_KEY)]
        return self.model(image, training=False)

    def _from_image(self, image: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(tf.cast(image, tf.float32), [-1, features.IMAGE_SIZE])
        return self._probabilities({features.IMAGE_KEY: flat})

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *features.IMAGE_SHAPE], tf.float32, name=features.IMAGE_KEY)
        ]
    )
    def serve_image(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = self._from_image(image)
        return {
            features.PROBABILITIES: probabilities,
            features.CLASS_ID: tf.argmax(probabilities, axis=-1),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *features.IMAGE_SHAPE], tf.float32, name=features.IMAGE_KEY)
        ]
    )
    def edge(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        return {features.PROBABILITIES: self._from_image(image)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(inputs, self._raw_spec)
        scores = self._probabilities(raw)
        classes = tf.tile(self._class_names[tf.newaxis, :], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    def export(self, export_dir: str) -> None:
        """Writes the SavedModel with the serving_default, classify and edge signatures."""
        export.save_with_signatures(
            self,
            export_dir,
            signatures={
                features.SERVING_SIGNATURE: self.serve_image.get_concrete_function(),
                features.EXAMPLES_SIGNATURE: self.classify.get_concrete_function(),
                features.EDGE_SIGNATURE: self.edge.get_concrete_function(),
            },
            method_names={features.EXAMPLES_SIGNATURE: export.CLASSIFY_METHOD},
        )


def run_fn(fn_args: Any) -> None:
    """Trains the configured image classifier on transformed digits and exports it.

    ``fn_args.custom_config`` carries the training config (builder, hparams, batch size,
    learning rate, epochs, seed) from the pipeline.
    """
    cfg = fn_args.custom_config
    keras.utils.set_random_seed(cfg["seed"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    xf_key = features.transformed_name(features.IMAGE_KEY)

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return training.transformed_dataset(
            fn_args, files, tft_output, xf_key, features.LABEL_KEY,
            batch_size=cfg["batch_size"], seed=cfg["seed"], shuffle=shuffle,
        )

    builder = training.import_builder(cfg["builder"])
    model = builder(features.IMAGE_SHAPE, features.NUM_CLASSES, **cfg["hparams"])
    model.summary(print_fn=lambda line, *_: logging.info(line))
    training.fit(
        model,
        dataset(fn_args.train_files, shuffle=True),
        dataset(fn_args.eval_files, shuffle=False),
        train_steps=fn_args.train_steps,
        eval_steps=fn_args.eval_steps,
        epochs=cfg["epochs"],
        learning_rate=cfg["learning_rate"],
        log_dir=fn_args.model_run_dir,
    )
    DigitsServingModule(model, tft_output).export(fn_args.serving_model_dir)
