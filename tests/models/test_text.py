"""The text task's Transform, export and serving contract, on a real tf.Transform output.

A module fixture analyzes a few reviews with tf.Transform (Beam, in process) once; each test
builds tiny models on it. The export of every sequence builder is reloaded and checked:
raw strings in ``serving_default`` and ``classify``, ``tokenize`` equal to the Transform,
``edge`` on token ids equal to ``serving_default``, the vocabulary in ``assets.extra``, and
a builtin-only TFLite conversion of ``edge`` within 1e-4 of the SavedModel.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models import edge, sequence
from models.tasks import transform as preprocessing
from models.tasks.export import TOKEN_IDS, TOKENIZE_SIGNATURE, VOCAB_FILE, export_model
from models.tasks.spec import OOV_ID, PADDING_ID, TEXT_CLASSIFICATION, Task, vocab_name

REVIEWS = [
    ("A great movie, great acting!<br /><br />I loved it.", 1),
    ("Dull plot. I don't recommend it; the acting was awful.", 0),
    ("Great fun: the best film this year", 1),
    ("Awful, boring, too long... a waste of time.", 0),
]
L = 128
TASK = Task(kind=TEXT_CLASSIFICATION, label="label", label_dtype="int", classes=("0", "1"),
            class_keys=("0", "1"), text="text", vocab_size=10000, sequence_length=L)
VOCAB_NAME = vocab_name(TASK.text)


def vocab_size(tft_output) -> int:
    return int(tft_output.vocabulary_size_by_name(VOCAB_NAME))


def _strings(texts) -> tf.Tensor:
    return tf.constant([t.encode() for t in texts])


def test_clean_lowercases_and_strips_markup_and_punctuation():
    out = preprocessing.clean_text(_strings([
        "Great<br />MOVIE!! Don't (really) Ünïcode…\x85no\u00a0break\u2028line\x96"]))
    assert out.numpy()[0].decode().split(" ") == [
        "great", "movie", "dont", "really", "ünïcode", "no", "break", "line", ""]


def test_fix_length_keeps_the_last_tokens_and_pads_in_front():
    ragged = tf.ragged.constant([[5, 6, 7], [], [1, 2, 3, 4, 5, 6]], dtype=tf.int64)
    out = preprocessing.fix_length(ragged.to_sparse(), ragged.row_lengths(), 4, pad_id=0)
    np.testing.assert_array_equal(out.numpy(), [[0, 5, 6, 7], [0, 0, 0, 0], [3, 4, 5, 6]])


@pytest.fixture(scope="module")
def tft_output():
    """tf.Transform's output (vocabulary and graph) for REVIEWS, analyzed in process."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    # The raw spec of the curated schema (pipeline/schemas/imdb.pbtxt): shape [1] features.
    spec = {"text": tf.io.FixedLenFeature([1], tf.string),
            "label": tf.io.FixedLenFeature([1], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{"text": [t.encode()], "label": [y]} for t, y in REVIEWS]
    config = {"task": TASK.to_dict()}
    out_dir = tempfile.mkdtemp(prefix="text_tft_")
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(prefix="text_tft_tmp_")):
        _, transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing.preprocessing_fn(inputs, config))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    # TFX's Transform also writes the raw metadata; the export reads the raw text spec there.
    raw_metadata_dir = Path(out_dir) / tft.TFTransformOutput.RAW_METADATA_DIR
    metadata_io.write_metadata(metadata, str(raw_metadata_dir))
    return tft.TFTransformOutput(out_dir)


def test_vocabulary_reserves_padding_and_unknown_ids(tft_output):
    vocab = Path(tft_output.vocabulary_file_by_name(VOCAB_NAME)).read_text().split("\n")
    assert vocab[:3] == ["[PAD]", "[UNK]", "great"]  # most frequent
    assert vocab_size(tft_output) == len([v for v in vocab if v])
    ids = tft_output.transform_features_layer()(
        {"text": tf.constant([[b"Great movie, zzzunseen!"]])}
    )[TASK.model_input].numpy()
    assert ids.shape == (1, L)
    assert (ids[0, :-3] == PADDING_ID).all()
    assert ids[0, -3] == vocab.index("great") and ids[0, -2] == vocab.index("movie")
    assert ids[0, -1] == OOV_ID


BUILDERS = {
    "lstm": lambda v: sequence.build_rnn_classifier((L,), 2, vocab_size=v, units=8,
                                                    embedding_dim=8),
    "gru": lambda v: sequence.build_rnn_classifier((L,), 2, vocab_size=v, cell="gru", units=8,
                                                   embedding_dim=8),
    "bidirectional_gru": lambda v: sequence.build_rnn_classifier(
        (L,), 2, vocab_size=v, cell="gru", units=8, embedding_dim=8, bidirectional=True),
    "transformer": lambda v: sequence.build_transformer_classifier(
        (L,), 2, vocab_size=v, embed_dim=8, num_heads=2, ff_dim=16),
}


@pytest.mark.parametrize("name", ["lstm", "gru", "bidirectional_gru", "transformer"])
def test_export_serves_raw_text_and_converts_edge_to_builtin_tflite(tft_output, tmp_path, name):
    import keras
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.core.protobuf import saved_model_pb2

    keras.utils.set_random_seed(0)
    model = BUILDERS[name](vocab_size(tft_output))
    export_model(model, tft_output, tmp_path, TASK)
    loaded = tf.saved_model.load(str(tmp_path))
    assert set(loaded.signatures) == {
        contract.SERVING_SIGNATURE, contract.CLASSIFY_SIGNATURE, contract.TRANSFORM_SIGNATURE,
        TOKENIZE_SIGNATURE, contract.EDGE_SIGNATURE}
    meta = saved_model_pb2.SavedModel.FromString(
        (tmp_path / "saved_model.pb").read_bytes()).meta_graphs[0]
    assert meta.signature_def["classify"].method_name == "tensorflow/serving/classify"

    texts = [t for t, _ in REVIEWS] + ["great movie"]
    served = loaded.signatures[contract.SERVING_SIGNATURE](text=_strings(texts))
    probs = served[contract.PROBABILITIES_OUTPUT].numpy()
    assert probs.shape == (len(texts), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(served[contract.CLASS_ID_OUTPUT].numpy(), probs.argmax(axis=1))

    ids = loaded.signatures[TOKENIZE_SIGNATURE](text=_strings(texts))[TOKEN_IDS]
    assert ids.dtype == tf.int32 and ids.shape == (len(texts), L)
    expected = tft_output.transform_features_layer()(
        {"text": _strings(texts).numpy().reshape(-1, 1)})[TASK.model_input]
    np.testing.assert_array_equal(ids.numpy(), expected.numpy())
    # `edge` (recurrent layers unrolled) on token ids answers like `serving_default`.
    edge_out = loaded.signatures[contract.EDGE_SIGNATURE](token_ids=ids)[
        contract.PROBABILITIES_OUTPUT]
    np.testing.assert_allclose(edge_out.numpy(), probs, atol=1e-5)

    examples = [tf.train.Example(features=tf.train.Features(feature={
        "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()]))
    })).SerializeToString() for t in texts]
    classified = loaded.signatures[contract.CLASSIFY_SIGNATURE](inputs=tf.constant(examples))
    np.testing.assert_allclose(classified["scores"].numpy(), probs, atol=1e-6)
    assert classified["classes"].numpy()[0].tolist() == [b"0", b"1"]

    spec = edge.read_edge_spec(tmp_path)
    assert spec.input_name == TOKEN_IDS and spec.input_dtype == "int32"
    assert spec.input_range == (0.0, float(vocab_size(tft_output) - 1))
    assert spec.recurrent is (name != "transformer")
    assert (spec.example_feature, spec.example_signature) == ("text", "tokenize")
    assert (tmp_path / "assets.extra" / VOCAB_FILE).read_bytes() == Path(
        tft_output.vocabulary_file_by_name(VOCAB_NAME)).read_bytes()

    # The edge exporter's float32 TFLite: builtin ops only, within the recurrent tolerance,
    # and the vocabulary written beside it.
    from components.edge_export import formats as fmts
    from components.edge_export.data import Dataset
    from components.edge_export.export import export_edge

    labels = np.array([y for _, y in REVIEWS] + [1])
    report = export_edge(tmp_path, tmp_path / "edge", fmts.ExportOptions(
        formats=(fmts.FLOAT32,), latency_runs=1), eval_data=Dataset(ids.numpy(), labels))
    (result,) = report.formats
    assert result.blessed and not result.needs_flex, (result.error, result.ops)
    assert not [op for op in result.ops if "flex" in op.lower()]
    interpreter = Interpreter(model_path=str(tmp_path / "edge" / result.file))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    for i, row in enumerate(ids.numpy()):
        interpreter.set_tensor(inp["index"], row[None])
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(outp["index"])[0], probs[i], atol=1e-4)
    assert (tmp_path / "edge" / VOCAB_FILE).read_bytes() == (
        tmp_path / "assets.extra" / VOCAB_FILE).read_bytes()


def test_vocab_size_comes_from_the_transform_not_the_config(tft_output, tmp_path):
    from models.training import derived_hparams
    from pipeline.config import CONFIG_DIR, ConfigError, load_config

    assert derived_hparams(TASK, tft_output) == {"vocab_size": vocab_size(tft_output)}
    for key in ("model.hparams.vocab_size=5", "tune.search_space={vocab_size: [5, 6]}"):
        with pytest.raises(ConfigError, match=r"'(model\.hparams|tune\.search_space)\."
                                              r"vocab_size' cannot be set: task.kind "
                                              r"'text_classification' derives it"):
            load_config(CONFIG_DIR / "imdb_lstm.yaml", [key])


@pytest.mark.parametrize("name", ["imdb_lstm", "imdb_gru", "imdb_transformer"])
def test_each_config_builds_and_trains_on_token_ids(tft_output, name):
    """The cheap check of every text config (the e2e test runs the LSTM one): its builder and
    hyperparameters take the Transform's token ids and train."""
    from models.training import build_model, compile_model
    from pipeline.config import CONFIG_DIR, load_config

    config = load_config(CONFIG_DIR / f"{name}.yaml")
    assert (config.task.kind, config.task.sequence_length) == (TEXT_CLASSIFICATION, L)
    model = build_model(TASK, {"builder": config.model.builder, "hparams": config.model.hparams},
                        tft_output, dict(config.model.hparams))
    ids = tft_output.transform_features_layer()(
        {"text": _strings([t for t, _ in REVIEWS]).numpy().reshape(-1, 1)}
    )[TASK.model_input]
    labels = np.array([y for _, y in REVIEWS])
    compile_model(model, TASK, config.train.learning_rate)
    history = model.fit(ids, labels, epochs=2, batch_size=len(labels), verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model(ids).shape == (len(REVIEWS), 2)
