"""Text sentiment end to end on the bundled IMDB sample: the real CLI, TFX, MLMD, serving.

The LSTM config runs the whole pipeline on the 100 reviews with its small step counts (edge
format float32 only, to keep the run near a minute). It must execute every component, be
blessed and pushed; the pushed model must answer a raw-text REST request through the
embedded server; its TFLite float32 file must be builtin ops only and match the SavedModel's
``edge`` signature on token ids; the vocabulary must sit beside the edge files. The GRU and
Transformer configs differ only in builder and hyperparameters: tests/models/test_text.py
trains each config's model on Transform output and exports and converts each builder.

A text config pointed at an image source, or at a CSV without the text column, fails in one
line before anything runs.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from dlpipe.examples import feature_values
from models.tasks.export import TOKEN_IDS, TOKENIZE_SIGNATURE, VOCAB_FILE
from pipeline.config import CONFIG_DIR
from tests.conftest import one_line_error
from tests.e2e.helpers import dlpipe_run, eval_records, node_states, run_task

EXPECTED_NODES = {
    "CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "InfraValidator",
    "Pusher", "EdgeExport", "EdgePusher",
}
COMPLETE = 3  # ml_metadata Execution.State


def eval_reviews(config, task) -> tuple[list[bytes], np.ndarray]:
    """The held-out eval split CsvExampleGen wrote: raw review texts and class ids."""
    texts, labels = [], []
    for example in eval_records(config):
        texts.append(feature_values(example, task.text)[0])
        labels.append(task.class_keys.index(str(feature_values(example, task.label)[0])))
    return texts, np.array(labels)


@pytest.mark.e2e
def test_text_lstm_end_to_end(cli, tmp_path):
    import requests
    from ai_edge_litert.interpreter import Interpreter

    from serving.server import ModelServer, ServerOptions

    result, run_id, config = dlpipe_run(cli, tmp_path, "edge.formats=[float32]",
                                        config_file=CONFIG_DIR / "imdb_lstm.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    states = node_states(config, run_id)
    assert set(states) == EXPECTED_NODES
    assert all(execs == [COMPLETE] for execs in states.values()), states
    assert "blessed:  yes" in result.stdout
    version_dir = config.serving_model_dir / "1"
    assert f"pushed:   version 1 -> {version_dir}" in result.stdout

    # TFMA scored `classify` on the eval split; `serving_default` on the raw reviews agrees.
    task = run_task(config, run_id)
    texts, labels = eval_reviews(config, task)
    loaded = tf.saved_model.load(str(version_dir))
    served = loaded.signatures[contract.SERVING_SIGNATURE](text=tf.constant(texts))
    accuracy = float(np.mean(served[contract.CLASS_ID_OUTPUT].numpy() == labels))
    tfma_accuracy = float(re.search(r"sparse_categorical_accuracy (\d\.\d+)", result.stdout)[1])
    assert accuracy == pytest.approx(tfma_accuracy, abs=1e-4)
    assert accuracy >= config.evaluate.min_accuracy

    # REST through the real embedded server, with the deployment the push wrote.
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(config.serving_root / "models.config"),
    )).start()
    try:
        answer = requests.post(
            f"http://127.0.0.1:{server.rest_port}/v1/models/{config.push.model_name}:predict",
            json={"instances": ["great movie"]}, timeout=30,
        )
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert len(prediction[contract.PROBABILITIES_OUTPUT]) == task.num_classes
    assert sum(prediction[contract.PROBABILITIES_OUTPUT]) == pytest.approx(1.0, abs=1e-5)
    class_id = int(np.argmax(prediction[contract.PROBABILITIES_OUTPUT]))
    assert prediction[contract.CLASS_ID_OUTPUT] == class_id
    assert prediction[contract.CLASS_NAME_OUTPUT] == task.classes[class_id]

    # Edge: float32 TFLite, builtin ops only, equal to the SavedModel's `edge` on token ids.
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert metadata["needs_flex"] is False
    assert metadata["input"]["name"] == TOKEN_IDS
    assert metadata["input"]["dtype"] == "int32"
    for fmt, entry in metadata["formats"].items():
        if entry["file"].endswith(".tflite"):
            assert not [op for op in entry["ops"] if "flex" in op.lower()], (fmt, entry["ops"])
    token_ids = loaded.signatures[TOKENIZE_SIGNATURE](
        text=tf.constant(texts))[TOKEN_IDS].numpy()
    reference = loaded.signatures[contract.EDGE_SIGNATURE](
        token_ids=tf.constant(token_ids))[contract.PROBABILITIES_OUTPUT].numpy()
    np.testing.assert_allclose(reference, served[contract.PROBABILITIES_OUTPUT].numpy(), atol=1e-5)
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    for row, want in zip(token_ids, reference, strict=True):
        interpreter.set_tensor(inp["index"], row[None].astype(np.int32))
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(outp["index"])[0], want, atol=1e-4)

    # The vocabulary ships beside the edge model: line n is the token of id n.
    vocab = (edge_dir / VOCAB_FILE).read_text().split("\n")[:-1]
    assert vocab[:2] == ["[PAD]", "[UNK]"]
    assert (edge_dir / VOCAB_FILE).read_bytes() == (
        version_dir / "assets.extra" / VOCAB_FILE).read_bytes()
    assert metadata["input"]["range"] == [0, len(vocab) - 1]
    assert token_ids.max() < len(vocab)
    assert (edge_dir / "labels.txt").read_text().split() == list(task.classes)


def test_text_config_on_the_digits_fails_before_training(cli, tmp_path):
    result = cli("run", "--config", str(CONFIG_DIR / "imdb_lstm.yaml"),
                 "--set", f"output_root={tmp_path}", "--set", "ingest.kind=sklearn_digits")
    one_line_error(result, 2, "task.kind", "reads text",
                   "ingest.kind='sklearn_digits' provides images")
    assert not (tmp_path / "pipeline").exists()


def test_csv_without_the_text_column_fails_before_training(cli, tmp_path):
    data = tmp_path / "reviews"
    data.mkdir()
    (data / "reviews.csv").write_text("label,review\n0,dull plot\n1,great movie\n")
    result = cli("run", "--config", str(CONFIG_DIR / "imdb_lstm.yaml"),
                 "--set", f"output_root={tmp_path / 'out'}", "--set", "ingest.kind=csv",
                 "--set", f"ingest.path={data}")
    one_line_error(result, 2, "'task.text' names text feature 'text'",
                   "Expected one of: label, review")
    assert not (tmp_path / "out" / "pipeline").exists()
