"""Sequence models on real bundled data: each digit read as 8 rows of 8 pixels.

LSTM, GRU and Transformer-encoder configs run the whole pipeline (the same Transform,
trainer and serving contract as the CNN); each must be blessed and pushed, classify
held-out digits with accuracy >= 0.90 through its pushed SavedModel, and produce TFLite
files made of builtin ops only (no Flex), so the plain LiteRT runtime runs them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from pipeline.config import CONFIG_DIR
from tests.e2e.helpers import dlpipe_run, eval_split, run_task

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("model", ["lstm", "gru", "transformer"])
def test_sequence_model_end_to_end(cli, tmp_path, model):
    from ai_edge_litert.interpreter import Interpreter

    result, run_id, config = dlpipe_run(
        cli, tmp_path, config_file=CONFIG_DIR / f"digits_{model}.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout
    version_dir = config.serving_model_dir / "1"
    assert (version_dir / "saved_model.pb").is_file()

    images, labels = eval_split(config, run_task(config, run_id))
    loaded = tf.saved_model.load(str(version_dir))
    out = loaded.signatures[contract.SERVING_SIGNATURE](image=tf.constant(images, tf.float32))
    accuracy = float(np.mean(out[contract.CLASS_ID_OUTPUT].numpy() == labels))
    assert accuracy >= 0.90, (model, accuracy)

    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert metadata["needs_flex"] is False
    for fmt, entry in metadata["formats"].items():
        if entry["file"].endswith(".tflite"):
            assert not [op for op in entry["ops"] if "flex" in op.lower()], (fmt, entry["ops"])
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], images[:1].astype(np.float32))
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(outp["index"])[0],
                               out[contract.PROBABILITIES_OUTPUT].numpy()[0], atol=1e-4)
