"""The serving contract of the supervised kinds: one export for images, tables and text.

Signatures (names from ``dlpipe.contract``), every one running the Transform graph first, so
clients send raw values and serving uses the training-time preprocessing:

- ``serving_default`` (REST/gRPC Predict): the raw input -> a classifier's
  ``probabilities`` float32 [batch, classes], ``class_id`` int64 [batch] and ``class_name``
  string [batch]; a regressor's ``prediction`` float32 [batch] in the label's units.
  Raw inputs: images ``task.image`` float32 [batch, h, w, c] (the data's pixel values);
  text ``task.text`` string [batch]; tables one input per column, [batch] each: float32 for
  numbers (NaN when missing), string for strings ("" when missing).
- ``classify`` (method classify; classifiers) or ``regress`` (method regress; regressors):
  ``inputs`` string [batch] of serialized tf.Example as the data holds them -> ``classes``
  (class names) and ``scores``, or ``outputs`` (label units). TFMA scores these, and TF
  Serving's Classify and Regress APIs call them.
- ``transform_features``: ``examples`` string [batch] of serialized tf.Example -> every
  Transform output (the model input, and the label's class id or z-score when the examples
  hold a label): TFMA reads transformed labels from it; the edge export builds table inputs.
- ``tokenize`` (text): ``text`` -> ``token_ids`` int32 [batch, sequence_length].
- ``predict_image`` (images, with dlpipe's Transform): ``image_bytes`` string [batch] of
  encoded image files -> ``serving_default``'s outputs; the graph decodes, resizes and maps
  0..255 onto the learned pixel range (``image_file_decoder``), so ``dlpipe predict`` and any
  REST client can send a PNG or JPEG as it is.
- ``edge``: one fixed-shape numeric input -> the probabilities (or the prediction in label
  units): raw pixels for images, token ids for text, the transformed feature vector for
  tables (strings and missing values cannot enter TFLite builtins). Recurrent layers are
  unrolled so the edge files use builtin ops only.

``assets.extra/dlpipe_task.json`` holds the task and what the Transform learned;
``assets.extra/edge_spec.json`` what the edge files take and return.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dlpipe import contract
from models import edge
from models import export as saved_model
from models.tasks import transform as preprocessing
from models.tasks.learned import learned_facts
from models.tasks.spec import OOV_ID, PADDING_ID, STRING, Task, vocab_name

TOKEN_IDS = "token_ids"
"""Text: the input of ``edge``, the output of ``tokenize``."""
TOKENIZE_SIGNATURE = "tokenize"
CLIP_AUDIO_SIGNATURE = "clip_audio"
"""Audio: serialized tf.Examples -> the clip the model hears, ``[batch, samples]`` in the
data's units (padded or cut): the edge input, made from stored examples of any length."""
VOCAB_FILE = "vocab.txt"
"""Text: the vocabulary beside the model (``assets.extra/vocab.txt``) and the edge files;
line n is the token of id n, the reserved ``[PAD]`` and ``[UNK]`` first."""


def write_task_info(export_dir: str | Path, task: Task, learned: Mapping[str, Any]) -> Path:
    """Writes the task and what its Transform learned into the SavedModel."""
    path = Path(export_dir) / contract.TASK_INFO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"task": task.to_dict(), "learned": dict(learned)}, indent=2)
                    + "\n")
    return path


def read_task_info(model_dir: str | Path) -> dict[str, Any] | None:
    """``{"task": ..., "learned": ...}`` of an exported model, or None if it has none."""
    path = Path(model_dir) / contract.TASK_INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else None


@dataclasses.dataclass
class _RawInputs:
    """How ``serving_default``'s inputs become the Transform graph's raw features."""

    specs: list[tf.TensorSpec]
    to_raw: Callable[[dict[str, tf.Tensor]], dict[str, Any]]


def _shaped_like(x: tf.Tensor, spec: Any) -> Any:
    """A ``[batch, ...]`` tensor shaped (and typed) as the schema's raw feature ``spec``."""
    x = tf.cast(x, spec.dtype) if x.dtype != spec.dtype and spec.dtype != tf.string else x
    if isinstance(spec, tf.io.VarLenFeature):
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.SparseTensor(tf.where(tf.ones_like(flat, tf.bool)), tf.reshape(flat, [-1]),
                               tf.shape(flat, tf.int64))
    return tf.reshape(x, [-1, *spec.shape])


def _image_inputs(task: Task, raw_spec: Mapping[str, Any]) -> _RawInputs:
    spec = raw_spec[task.image]

    def to_raw(columns: dict[str, tf.Tensor]) -> dict[str, Any]:
        pixels = tf.reshape(columns[task.image], [-1, task.image_size])
        if spec.dtype.is_integer:
            pixels = tf.round(pixels)
        return {task.image: _shaped_like(pixels, spec)}

    return _RawInputs([tf.TensorSpec([None, *task.image_shape], tf.float32, name=task.image)],
                      to_raw)


def _text_inputs(task: Task, raw_spec: Mapping[str, Any]) -> _RawInputs:
    spec = raw_spec[task.text]

    def to_raw(columns: dict[str, tf.Tensor]) -> dict[str, Any]:
        return {task.text: _shaped_like(columns[task.text], spec)}

    return _RawInputs([tf.TensorSpec([None], tf.string, name=task.text)], to_raw)


def _fixed_samples(x: tf.Tensor, spec: Any) -> tf.Tensor:
    """Samples ``[batch, n]`` padded or cut to a fixed-length raw feature's size."""
    if isinstance(spec, tf.io.FixedLenFeature):
        from models.tasks.audio import fix_length

        return fix_length(x, int(np.prod(spec.shape)))
    return x


def _audio_inputs(task: Task, raw_spec: Mapping[str, Any]) -> _RawInputs:
    """Waveforms ``[batch, n]`` in the data's units, any n (the graph pads or cuts)."""
    spec = raw_spec[task.audio]

    def to_raw(columns: dict[str, tf.Tensor]) -> dict[str, Any]:
        samples = tf.reshape(columns[task.audio], [tf.shape(columns[task.audio])[0], -1])
        if spec.dtype.is_integer:
            samples = tf.round(samples)
        return {task.audio: _shaped_like(_fixed_samples(samples, spec), spec)}

    return _RawInputs([tf.TensorSpec([None, None], tf.float32, name=task.audio)], to_raw)


def wav_decoder(task: Task) -> Callable[[tf.Tensor], tf.Tensor]:
    """WAV files ``[batch]`` -> samples ``[batch, audio_samples]`` in the data's units: 16-bit
    PCM decoded to [-1, 1] (the first channel), checked against the task's sample rate,
    padded or cut, and scaled by the data's full scale."""
    from models.tasks.audio import fix_length

    def decode(data: tf.Tensor) -> tf.Tensor:
        # The header first: decode_wav's own error on other bytes quotes them, which is not
        # UTF-8 and fails in the error's formatting instead of answering the client.
        head = tf.strings.substr(data + tf.constant(b"\0" * 12), 0, 12)
        is_wav = tf.debugging.assert_equal(
            tf.logical_and(tf.equal(tf.strings.substr(head, 0, 4), b"RIFF"),
                           tf.equal(tf.strings.substr(head, 8, 4), b"WAVE")), True,
            message="audio_bytes must hold WAV files (a RIFF/WAVE header)")
        with tf.control_dependencies([is_wav]):
            wave, rate = tf.audio.decode_wav(data, desired_channels=1)
        check = tf.debugging.assert_equal(
            rate, tf.constant(task.sample_rate, tf.int32),
            message=f"The WAV file's sample rate must be {task.sample_rate} Hz, the rate "
                    f"the model was trained at")
        with tf.control_dependencies([check]):
            return fix_length(tf.reshape(wave, [1, -1]), task.audio_samples)[0]

    def decode_batch(files: tf.Tensor) -> tf.Tensor:
        clips = tf.map_fn(decode, files, fn_output_signature=tf.TensorSpec(
            [task.audio_samples], tf.float32))
        return clips * task.audio_scale

    return decode_batch


def _column_spec(task: Task, key: str) -> tf.TensorSpec:
    """A table column in ``serving_default``: one value per example."""
    dtype = tf.string if task.feature_dtypes.get(key) == STRING else tf.float32
    return tf.TensorSpec([None], dtype, name=key)


def _tabular_inputs(task: Task, raw_spec: Mapping[str, Any]) -> _RawInputs:
    """Columns ``[batch]`` (NaN or "" when missing) -> what the Transform graph takes: a
    SparseTensor of the present values for a column the schema lets be missing, else dense."""
    keys = task.features

    def to_raw(columns: dict[str, tf.Tensor]) -> dict[str, Any]:
        out = {}
        for key in keys:
            x, spec = columns[key], raw_spec[key]
            if x.dtype == tf.string:
                present = tf.not_equal(x, preprocessing.MISSING_STRING)
            else:
                present = tf.logical_not(tf.math.is_nan(x))
                if spec.dtype.is_integer:
                    x = tf.round(x)
            if spec.dtype == tf.string and x.dtype != tf.string:
                x = tf.strings.as_string(x)
            batch = tf.shape(x, out_type=tf.int64)[0]
            if isinstance(spec, tf.io.VarLenFeature):
                rows = tf.where(present)
                out[key] = tf.SparseTensor(
                    indices=tf.concat([rows, tf.zeros_like(rows)], axis=1),
                    values=tf.cast(tf.gather_nd(x, rows), spec.dtype),
                    dense_shape=tf.stack([batch, tf.constant(1, tf.int64)]),
                )
            else:
                tf.debugging.assert_equal(
                    present, True,
                    message=f"{key} is required: the schema allows no missing value for it")
                out[key] = tf.reshape(tf.cast(x, spec.dtype), [-1, *spec.shape])
        return out

    return _RawInputs([_column_spec(task, key) for key in keys], to_raw)


def _raw_inputs(task: Task, raw_spec: Mapping[str, Any]) -> _RawInputs:
    missing = sorted(set(task.features) - set(raw_spec))
    if missing:
        raise ValueError(f"The transform graph's raw schema lacks the task's features "
                         f"{missing}; it has {sorted(raw_spec)}.")
    if task.is_image:
        return _image_inputs(task, raw_spec)
    if task.is_text:
        return _text_inputs(task, raw_spec)
    if task.is_audio:
        return _audio_inputs(task, raw_spec)
    return _tabular_inputs(task, raw_spec)


def _parse_spec(raw_spec: Mapping[str, Any], task: Task, with_label: bool) -> dict[str, Any]:
    """The spec serialized examples are parsed with: the task's features and, for
    ``transform_features``, the label (given a default so label-less examples parse too)."""
    spec = {k: raw_spec[k] for k in task.features}
    label = raw_spec.get(task.label)
    if with_label and label is not None:
        if isinstance(label, tf.io.FixedLenFeature) and label.default_value is None:
            default = "" if label.dtype == tf.string else (
                float("nan") if label.dtype.is_floating else -1)
            shape = list(label.shape)
            value = default if not shape else [default] * int(np.prod(shape))
            label = tf.io.FixedLenFeature(shape, label.dtype, default_value=value)
        spec[task.label] = label
    return spec


def edge_spec(task: Task, learned: Mapping[str, Any], model: keras.Model,
              input_size: int) -> edge.EdgeSpec:
    """What the ``edge`` signature takes and returns, for app developers and the exporter.

    With a ``preprocessing_fn`` of the user's (``learned["preprocessing"]``) the edge input
    is the user's model input, described by the signature that computes it."""
    recurrent = edge.has_recurrent_layers(model)
    custom = learned.get("preprocessing", "")
    if task.is_regression:
        unit = f" {task.label_unit}" if task.label_unit else ""
        output = dict(output_name=contract.PREDICTION_OUTPUT, task="regression",
                      output_scale=float(learned["label"]["std"]),
                      output_meaning=f"the predicted {task.label}{unit} (label units)")
    else:
        output = dict(output_name=contract.PROBABILITIES_OUTPUT, labels=task.classes,
                      output_meaning="probability of each class (softmax), in labels.txt "
                                     "order")
    if task.is_image and custom:
        return edge.EdgeSpec(
            input_name=task.image, input_shape=tuple(task.image_shape), recurrent=recurrent,
            normalization=f"none needed: send the raw pixel values as the data holds them, "
                          f"[batch, {', '.join(map(str, task.image_shape))}]; the graph "
                          f"applies the {custom}",
            **output)
    if task.is_image:
        low, high = learned["pixel_range"]
        return edge.EdgeSpec(
            input_name=task.image, input_shape=tuple(task.image_shape), recurrent=recurrent,
            input_range=(low, high),
            normalization=f"none needed: send raw pixel values {low:g}..{high:g} as "
                          f"[batch, {', '.join(map(str, task.image_shape))}]; the graph "
                          f"scales them to [0, 1]",
            **output)
    if task.is_audio:
        from models.tasks.audio import recipe

        scale = task.audio_scale
        how = (f"the {custom}" if custom else
               f"a log-mel spectrogram: {recipe(task.audio_samples, task.sample_rate, scale)}")
        return edge.EdgeSpec(
            input_name=task.audio, input_shape=(task.audio_samples,), recurrent=recurrent,
            input_range=(-scale, scale),
            normalization=f"none needed: send {task.audio_samples} raw samples at "
                          f"{task.sample_rate} Hz (full scale {scale:g}); the graph computes "
                          f"{how}",
            example_feature=edge.SERIALIZED_EXAMPLE, example_signature=CLIP_AUDIO_SIGNATURE,
            **output)
    if task.is_text and custom:
        size = learned.get("vocab_size")
        return edge.EdgeSpec(
            input_name=TOKEN_IDS, input_shape=tuple(int(d) for d in model.input_shape[1:]),
            input_dtype="int32", input_range=(0, size - 1) if size else None,
            recurrent=recurrent,
            normalization=f"token ids as the {custom} makes them from the text; the "
                          f"SavedModel's `{TOKENIZE_SIGNATURE}` signature does exactly this.",
            example_feature=task.text, example_signature=TOKENIZE_SIGNATURE, **output)
    if task.is_text:
        return edge.EdgeSpec(
            input_name=TOKEN_IDS, input_shape=(task.sequence_length,), input_dtype="int32",
            input_range=(0, learned["vocab_size"] - 1), recurrent=recurrent,
            normalization=(
                f"token ids from {VOCAB_FILE} (line n = id n): lowercase, <br /> tags and "
                f"punctuation removed, split on whitespace, the last {task.sequence_length} "
                f"tokens kept, padded at the front with {PADDING_ID}; unknown words are "
                f"{OOV_ID}. The SavedModel's `{TOKENIZE_SIGNATURE}` signature does exactly "
                f"this."),
            example_feature=task.text, example_signature=TOKENIZE_SIGNATURE, **output)
    return edge.EdgeSpec(
        input_name=task.model_input, input_shape=(input_size,), recurrent=recurrent,
        normalization=tabular_recipe(task, learned, input_size),
        example_feature=edge.SERIALIZED_EXAMPLE,
        example_signature=contract.TRANSFORM_SIGNATURE, **output)


def tabular_recipe(task: Task, learned: Mapping[str, Any], width: int) -> str:
    """The tabular edge input, with the learned numbers (``EdgeSpec.normalization``)."""
    if learned.get("preprocessing"):
        return (f"{width} float32 values made from the raw columns by the "
                f"{learned['preprocessing']}. The SavedModel's "
                f"`{contract.TRANSFORM_SIGNATURE}` signature does exactly this.")
    parts = [f"{key}: (x - {s['mean']:.7g}) / {s['std']:.7g}, missing 0"
             for key, s in learned["numeric"].items()]
    for key, vocab in learned["categorical"].items():
        slots = preprocessing.category_slots(task, key)
        kept = vocab[: slots - 1]
        parts.append(f"{key}: one-hot of {slots} over {kept}, slot {slots - 1} for missing "
                     f"or unseen")
    width = len(preprocessing.layout(task))  # the same as the model's, by construction
    return (f"{width} float32 values in this order: " + "; ".join(parts)
            + f". The SavedModel's `{contract.TRANSFORM_SIGNATURE}` signature does exactly "
              f"this.")


def image_file_decoder(task: Task, pixel_range: Sequence[float]
                       ) -> Callable[[tf.Tensor], tf.Tensor]:
    """Encoded image files ``[batch]`` -> raw pixels ``[batch, h, w, c]`` float32 in the
    data's units: decoded (PNG, JPEG, GIF's first frame, BMP) with the model's channels,
    resized (bilinear, antialiased) to its height x width when the size differs, and the
    file's black..white (0..255, or 0..65535 for 16-bit PNG) mapped linearly onto the pixel
    range Transform learned (``pixel_range``: ``(low, high)``)."""
    height, width, channels = (int(d) for d in task.image_shape)
    low, high = (float(v) for v in pixel_range)

    def decode(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.image.convert_image_dtype(image, tf.float32)  # 0..1 for 8 or 16 bits
        size = tf.shape(image)[:2]
        same = tf.reduce_all(tf.equal(size, [height, width]))
        image = tf.cond(same, lambda: image,
                        lambda: tf.image.resize(image, [height, width], antialias=True))
        return tf.clip_by_value(tf.ensure_shape(image, [height, width, channels]), 0.0, 1.0)

    def decode_batch(files: tf.Tensor) -> tf.Tensor:
        images = tf.map_fn(decode, files, fn_output_signature=tf.TensorSpec(
            [height, width, channels], tf.float32))
        return low + images * (high - low)

    return decode_batch


def export_model(model: keras.Model, tft_output: Any, export_dir: str | Path,
                 task: Task) -> Path:
    """Saves a trained classifier or regressor with the signatures of this module's doc.

    Args:
      model: The trained Keras model over ``task.model_input``.
      tft_output: The ``tft.TFTransformOutput`` of the Transform that made its inputs.
      export_dir: The SavedModel directory to write.
      task: The resolved task.

    Returns:
      The export directory.
    """
    learned = learned_facts(task, tft_output)
    raw_spec = tft_output.raw_feature_spec()
    inputs = _raw_inputs(task, raw_spec)
    module = tf.Module()
    module.model = model
    module.edge_model = edge.unroll_recurrent_layers(model)
    module.tft_layer = tft_output.transform_features_layer()
    parse_features = _parse_spec(raw_spec, task, with_label=False)
    parse_all = _parse_spec(raw_spec, task, with_label=True)
    if task.is_regression:
        mean, std = learned["label"]["mean"], learned["label"]["std"]
    classes = tf.constant(list(task.classes) or [""])

    def model_input(raw: dict[str, Any]) -> tf.Tensor:
        return module.tft_layer(dict(raw))[task.model_input]

    def predict(net: Any, x: tf.Tensor) -> tf.Tensor:
        out = net(x, training=False)
        return mean + std * tf.reshape(out, [-1]) if task.is_regression else out

    serving_outputs = (
        (lambda y: {contract.PREDICTION_OUTPUT: y}) if task.is_regression else
        (lambda p: {contract.PROBABILITIES_OUTPUT: p,
                    contract.CLASS_ID_OUTPUT: tf.argmax(p, axis=-1, output_type=tf.int64),
                    contract.CLASS_NAME_OUTPUT: tf.gather(classes, tf.argmax(p, axis=-1))}))

    @tf.function(input_signature=inputs.specs)
    def serving(*columns: tf.Tensor) -> dict[str, tf.Tensor]:
        named = dict(zip((s.name for s in inputs.specs), columns, strict=True))
        return serving_outputs(predict(module.model, model_input(inputs.to_raw(named))))

    examples_spec = tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)

    @tf.function(input_signature=[examples_spec])
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = predict(module.model, model_input(tf.io.parse_example(inputs, parse_features)))
        return {contract.CLASSES_OUTPUT: tf.broadcast_to(classes, tf.shape(scores)),
                contract.SCORES_OUTPUT: scores}

    @tf.function(input_signature=[examples_spec])
    def regress(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        value = predict(module.model, model_input(tf.io.parse_example(inputs, parse_features)))
        return {contract.REGRESS_OUTPUT: value}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=contract.TRANSFORM_INPUT)])
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return dict(module.tft_layer(tf.io.parse_example(examples, parse_all)))

    input_shape = tuple(int(d) for d in model.input_shape[1:])
    spec = edge_spec(task, learned, model, input_shape[0] if task.is_tabular else 0)
    edge_dtype = tf.as_dtype(spec.input_dtype)

    @tf.function(input_signature=[
        tf.TensorSpec([None, *spec.input_shape], edge_dtype, name=spec.input_name)])
    def edge_fn(x: tf.Tensor) -> dict[str, tf.Tensor]:
        if task.is_image:
            x = model_input(inputs.to_raw({task.image: x}))
        elif task.is_audio:
            x = model_input(inputs.to_raw({task.audio: x}))
        return {spec.output_name: predict(module.edge_model, x)}

    signatures = {
        contract.SERVING_SIGNATURE: serving.get_concrete_function(),
        contract.TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
        contract.EDGE_SIGNATURE: edge_fn.get_concrete_function(),
    }
    if task.is_regression:
        signatures[contract.REGRESS_SIGNATURE] = regress.get_concrete_function()
        methods = {contract.REGRESS_SIGNATURE: contract.REGRESS_METHOD}
    else:
        signatures[contract.CLASSIFY_SIGNATURE] = classify.get_concrete_function()
        methods = {contract.CLASSIFY_SIGNATURE: contract.CLASSIFY_METHOD}
    if task.is_image and "pixel_range" in learned:
        raw_from_files = image_file_decoder(task, learned["pixel_range"])

        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name=contract.IMAGE_BYTES_INPUT)])
        def predict_image(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            raw = {task.image: raw_from_files(image_bytes)}
            return serving_outputs(predict(module.model, model_input(inputs.to_raw(raw))))

        signatures[contract.IMAGE_BYTES_SIGNATURE] = predict_image.get_concrete_function()
    if task.is_audio:
        raw_from_wav = wav_decoder(task)

        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name=contract.AUDIO_BYTES_INPUT)])
        def predict_audio(audio_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            raw = {task.audio: raw_from_wav(audio_bytes)}
            return serving_outputs(predict(module.model, model_input(inputs.to_raw(raw))))

        @tf.function(input_signature=[examples_spec])
        def clip_audio(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            from models.tasks.audio import fix_length

            samples = tf.io.parse_example(inputs, parse_features)[task.audio]
            if isinstance(samples, tf.SparseTensor):
                samples = tf.sparse.to_dense(samples)
            samples = tf.cast(tf.reshape(samples, [tf.shape(inputs)[0], -1]), tf.float32)
            return {task.audio: fix_length(samples, task.audio_samples)}

        signatures[contract.AUDIO_BYTES_SIGNATURE] = predict_audio.get_concrete_function()
        signatures[CLIP_AUDIO_SIGNATURE] = clip_audio.get_concrete_function()
    if task.is_text:
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=task.text)])
        def tokenize(text: tf.Tensor) -> dict[str, tf.Tensor]:
            ids = model_input(inputs.to_raw({task.text: text}))
            return {TOKEN_IDS: tf.cast(ids, tf.int32)}

        signatures[TOKENIZE_SIGNATURE] = tokenize.get_concrete_function()

    export_dir = Path(export_dir)
    saved_model.save_with_signatures(module, export_dir, signatures, method_names=methods)
    edge.write_edge_spec(export_dir, spec)
    write_task_info(export_dir, task, learned)
    if task.is_text and "vocab_size" in learned:
        vocab = export_dir / "assets.extra" / VOCAB_FILE
        shutil.copyfile(tft_output.vocabulary_file_by_name(vocab_name(task.text)), vocab)
    return export_dir

