"""A dlpipe text classifier's .tflite, fed raw text by the Task Library's NLClassifier.

The model is the real text export (``models.tasks.export.export_model``) of a tiny
Transformer on tf.Transform's output for 80 of the IMDB reviews in the tfx wheel (analyzed
in process); the other 20 are held out. The Task Library tokenizes the raw text itself with
the RegexTokenizer and vocabulary inside the file (``components/edge_export/text.py``).
"""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from components.edge_export import formats, tflite_metadata
from components.edge_export.data import Dataset
from components.edge_export.export import export_edge
from tests.edge.test_tflite_metadata import needs_task_library, run_task_library, tensor_metadata

L = 64  # tokens the model reads


def imdb_reviews() -> list[tuple[str, int]]:
    import tfx

    path = Path(tfx.__file__).parent / "examples/imdb/data/imdb_small_with_labels.txt"
    with path.open(newline="") as f:
        return [(row["text"], int(row["label"])) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    """(SavedModel dir, task, held-out reviews) of a tiny Transformer on 80 IMDB reviews."""
    import keras
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from models import sequence
    from models.tasks import transform as preprocessing
    from models.tasks.export import export_model
    from models.tasks.spec import TEXT_CLASSIFICATION, Task, vocab_name

    reviews = imdb_reviews()
    train, held_out = reviews[:80], reviews[80:]
    task = Task(kind=TEXT_CLASSIFICATION, label="label", label_dtype="int", classes=("neg", "pos"),
                class_keys=("0", "1"), text="text", vocab_size=2000, sequence_length=L)
    spec = {"text": tf.io.FixedLenFeature([1], tf.string),
            "label": tf.io.FixedLenFeature([1], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{"text": [t.encode()], "label": [y]} for t, y in train]
    out_dir = tempfile.mkdtemp(prefix="edge_text_tft_")
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(prefix="edge_text_tft_tmp_")):
        _, transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing.preprocessing_fn(inputs, {"task": task.to_dict()}))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    metadata_io.write_metadata(
        metadata, str(Path(out_dir) / tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_output = tft.TFTransformOutput(out_dir)

    ids = tft_output.transform_features_layer()(
        {"text": tf.constant([[t.encode()] for t, _ in train])})[task.model_input]
    keras.utils.set_random_seed(5)
    vocab_size = int(tft_output.vocabulary_size_by_name(vocab_name(task.text)))
    model = sequence.build_transformer_classifier((L,), 2, vocab_size=vocab_size, embed_dim=8,
                                                  num_heads=2, ff_dim=16)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ids, np.array([y for _, y in train]), epochs=8, batch_size=16, verbose=0)
    path = tmp_path_factory.mktemp("text_model") / "1"
    export_model(model, tft_output, path, task)
    return path, task, held_out


def held_out_texts(held_out: list[tuple[str, int]]) -> list[str]:
    """Each held-out review and each of its sentences (most are shorter than ``L`` words)."""
    texts = []
    for review, _ in held_out:
        texts.append(review)
        texts += [s.strip() for s in re.split(r"(?<=[.!?])\s+", review) if s.strip()]
    return texts


@needs_task_library
def test_nl_classifier_on_raw_text_agrees_with_the_saved_model(tmp_path, text_model):
    import tensorflow as tf

    from dlpipe import contract
    from models.tasks import transform as preprocessing

    model_dir, task, held_out = text_model
    loaded = tf.saved_model.load(str(model_dir))
    texts = held_out_texts(held_out)
    tokens = loaded.signatures["tokenize"](text=tf.constant(texts))["token_ids"].numpy()
    labels = np.array([0] * len(texts))  # parity is what counts here, not accuracy
    report = export_edge(model_dir, tmp_path / "edge",
                         formats.ExportOptions(formats=("float32",), latency_runs=5),
                         eval_data=Dataset(tokens, labels))
    result = report.result("float32")
    assert result.blessed, (result.error, result.gate_failures)
    assert result.tflite_metadata["writer"] == "nl_classifier"

    meta = tflite_metadata.read((tmp_path / "edge" / result.file).read_bytes())
    (tokenizer,) = tensor_metadata(meta, "input")["process_units"]
    assert tokenizer["options_type"] == "RegexTokenizerOptions"
    vocab_name = tokenizer["options"]["vocab_file"][0]["name"]
    lines = meta["files"][vocab_name].splitlines()
    assert lines[:2] == ["<PAD> 0", "<UNKNOWN> 1"] and "Don't" not in lines[2]
    (labels_file,) = tensor_metadata(meta, "output")["associated_files"]
    assert meta["files"][labels_file["name"]].split() == ["neg", "pos"]

    want = loaded.signatures[contract.SERVING_SIGNATURE](text=tf.constant(texts))[
        contract.CLASS_ID_OUTPUT].numpy()
    top = run_task_library(tmp_path, "NLClassifier", tmp_path / "edge" / result.file, texts)
    got = np.array([task.classes.index(label) for label, _ in top])
    words = np.array([len(preprocessing.clean_text(tf.constant([t])).numpy()[0].split())
                      for t in texts])
    short = words <= L
    agree = got == want
    print(f"NLClassifier top class equals the SavedModel's on {agree[short].mean():.4f} of "
          f"{short.sum()} held-out texts of <= {L} words, {agree[~short].mean():.4f} of "
          f"{(~short).sum()} longer ones (the Task Library reads their first {L} words)")
    assert short.sum() >= 150 and agree[short].mean() >= 0.99
