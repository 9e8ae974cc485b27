"""Exports a trained text classifier with the text serving contract (see features.py).

``serving_default``, ``classify`` and ``tokenize`` run the Transform graph (tokenization and
vocabulary) inside the model, so clients send raw reviews; ``edge`` takes the token ids that
``tokenize`` returns, since raw strings cannot enter TFLite builtins. The vocabulary is
written to ``assets.extra/vocab.txt`` (line n = token id n) for apps running the edge model.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from models import edge
from models import export as saved_model_export
from models.text import features


def vocab_size(tft_output: Any) -> int:
    """Token ids the Transform graph can produce: the reserved tokens plus its vocabulary."""
    return tft_output.vocabulary_size_by_name(features.VOCAB_NAME)


def _raw_text(text: tf.Tensor, spec: Any) -> Any:
    """A ``[batch]`` string tensor shaped as the schema's raw ``text`` feature."""
    if isinstance(spec, tf.io.VarLenFeature):
        return tf.sparse.from_dense(tf.reshape(text, [-1, 1]))
    return tf.reshape(text, [-1, *spec.shape])


def export(model: keras.Model, tft_output: Any, export_dir: str) -> None:
    """Saves ``model`` with the four signatures of the text contract, the edge spec and the
    vocabulary.

    Args:
      model: A trained classifier over token ids ``[batch, SEQUENCE_LENGTH]``.
      tft_output: The ``tft.TFTransformOutput`` of the Transform that made its inputs.
      export_dir: The SavedModel directory to write.
    """
    tft_layer = tft_output.transform_features_layer()
    text_spec = tft_output.raw_feature_spec()[features.TEXT_KEY]
    module = tf.Module()
    module.model = model
    module.edge_model = edge.unroll_recurrent_layers(model)
    module.tft_layer = tft_layer

    def tokenize_text(text: tf.Tensor) -> tf.Tensor:
        ids = tft_layer({features.TEXT_KEY: _raw_text(text, text_spec)})
        return tf.cast(ids[features.MODEL_INPUT_KEY], tf.int32)

    def probabilities(text: tf.Tensor) -> tf.Tensor:
        return module.model(tokenize_text(text), training=False)

    text_input = tf.TensorSpec([None], tf.string, name=features.TEXT_KEY)

    @tf.function(input_signature=[text_input])
    def serving(text: tf.Tensor) -> dict[str, tf.Tensor]:
        probs = probabilities(text)
        return {features.PROBABILITIES: probs,
                features.CLASS_ID: tf.argmax(probs, axis=-1, output_type=tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(
            inputs, {features.TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value="")}
        )
        scores = probabilities(parsed[features.TEXT_KEY])
        classes = tf.broadcast_to(tf.constant(list(features.CLASS_NAMES)), tf.shape(scores))
        return {"classes": classes, "scores": scores}

    @tf.function(input_signature=[text_input])
    def tokenize(text: tf.Tensor) -> dict[str, tf.Tensor]:
        return {features.TOKEN_IDS: tokenize_text(text)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, *features.MODEL_INPUT_SHAPE], tf.int32, name=features.TOKEN_IDS)
    ])
    def edge_fn(token_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return {features.PROBABILITIES: module.edge_model(token_ids, training=False)}

    saved_model_export.save_with_signatures(
        module,
        export_dir,
        {
            features.SERVING_SIGNATURE: serving.get_concrete_function(),
            features.EXAMPLES_SIGNATURE: classify.get_concrete_function(),
            features.TOKENIZE_SIGNATURE: tokenize.get_concrete_function(),
            features.EDGE_SIGNATURE: edge_fn.get_concrete_function(),
        },
        method_names={features.EXAMPLES_SIGNATURE: saved_model_export.CLASSIFY_METHOD},
    )
    spec = dataclasses.replace(
        features.EDGE_SPEC,
        input_range=(0, vocab_size(tft_output) - 1),
        recurrent=edge.has_recurrent_layers(model),
    )
    edge.write_edge_spec(export_dir, spec)
    write_vocab(tft_output, export_dir)


def write_vocab(tft_output: Any, export_dir: str | Path) -> Path:
    """Copies Transform's vocabulary to ``assets.extra/vocab.txt`` (line n = token id n)."""
    path = Path(export_dir) / "assets.extra" / features.VOCAB_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tft_output.vocabulary_file_by_name(features.VOCAB_NAME), path)
    return path
