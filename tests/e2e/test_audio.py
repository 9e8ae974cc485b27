"""Keyword spotting end to end on the bundled spoken digits: the real CLI, TFX, MLMD, serving.

``pipeline/configs/spoken_digits_cnn.yaml`` as a user runs it: espeak-ng speaks "zero" ..
"nine" in 12 voices, the eval split holds 3 voices out, a CNN hears the log-mel spectrogram
the graph computes from raw samples. The run must be blessed and pushed with held-out
accuracy >= 0.85 on the unseen voices; the served model must answer raw samples over REST
and gRPC and WAV files through ``predict_audio`` (REST ``{"b64": ...}``, gRPC, and
``dlpipe predict clip.wav``); its TFLite and ONNX files must pass their gates with raw
samples as the input.
"""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from dlpipe.examples import feature_values
from pipeline.config import CONFIG_DIR
from tests.e2e.helpers import dlpipe_run, eval_records, node_states, run_task

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("espeak-ng") is None,
                       reason="espeak-ng is not installed (Debian: apt-get install espeak-ng); "
                              ".ci/run installs it"),
]
BAR = 0.85
COMPLETE = 3  # ml_metadata Execution.State


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("spoken_digits")
    return dlpipe_run(run_cli, root, config_file=CONFIG_DIR / "spoken_digits_cnn.yaml")


@pytest.fixture(scope="module")
def held_out(run):
    """The eval split (the three held-out voices): raw samples and class ids."""
    _, run_id, config = run
    task = run_task(config, run_id)
    clips, labels = [], []
    for example in eval_records(config):
        clips.append(np.asarray(feature_values(example, task.audio), np.float32))
        labels.append(int(feature_values(example, task.label)[0]))
    return task, np.stack(clips), np.array(labels)


def _wav(clip: np.ndarray, rate: int) -> bytes:
    from scipy.io import wavfile

    buffer = io.BytesIO()
    wavfile.write(buffer, rate, np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16))
    return buffer.getvalue()


def test_blessed_and_pushed_with_the_bar_on_unseen_voices(run, held_out):
    result, run_id, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    states = node_states(config, run_id)
    assert {"AudioFolderExampleGen", "SchemaCurator", "Transform", "Trainer", "Evaluator",
            "InfraValidator", "Pusher", "EdgeExport", "EdgePusher"} <= set(states)
    assert all(execs == [COMPLETE] for execs in states.values()), states
    task, clips, labels = held_out
    assert (task.sample_rate, task.audio_samples) == (16000, 16000)
    assert clips.shape == (120, 16000)  # 3 voices x 10 words x 4 ways
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    out = loaded.signatures[contract.SERVING_SIGNATURE](audio=tf.constant(clips))
    accuracy = float(np.mean(out[contract.CLASS_ID_OUTPUT].numpy() == labels))
    print(f"spoken digits held-out accuracy (3 unseen voices): {accuracy:.4f} on "
          f"{len(labels)} clips")
    assert accuracy >= BAR, accuracy


def test_served_over_rest_and_grpc_as_samples_and_wav_files(run, held_out, tmp_path, capsys):
    import requests

    from pipeline import cli
    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    _, _, config = run
    task, clips, labels = held_out
    clips, labels = clips[::15][:6], labels[::15][:6]
    name = config.push.model_name
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(config.serving_root / "models.config"),
    )).start()
    try:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{name}:predict"
        by_samples = requests.post(url, data=json.dumps({"instances": clips.tolist()}),
                                   timeout=60)
        assert by_samples.status_code == 200, by_samples.text
        predictions = by_samples.json()["predictions"]
        names = [p[contract.CLASS_NAME_OUTPUT] for p in predictions]
        assert set(names) <= set(task.classes)
        files = [_wav(c, task.sample_rate) for c in clips]
        by_file = requests.post(url, data=json.dumps({
            "signature_name": contract.AUDIO_BYTES_SIGNATURE,
            "instances": [{"b64": base64.b64encode(f).decode()} for f in files]}), timeout=60)
        assert by_file.status_code == 200, by_file.text
        file_names = [p[contract.CLASS_NAME_OUTPUT] for p in by_file.json()["predictions"]]
        # 16-bit quantization of the file changes the probabilities a little, not the answer.
        assert np.mean([a == b for a, b in zip(file_names, names, strict=True)]) >= 5 / 6
        bad = requests.post(url, data=json.dumps({
            "signature_name": contract.AUDIO_BYTES_SIGNATURE,
            "instances": [{"b64": base64.b64encode(_wav(clips[0], 8000)).decode()}]}),
            timeout=60)
        assert bad.status_code == 400 and "sample rate must be 16000 Hz" in bad.text, bad.text
        grpc = GrpcClient(port=server.grpc_port)
        try:
            out = grpc.predict(name, {"audio": clips})
        finally:
            grpc.close()
        assert [n.decode() for n in out[contract.CLASS_NAME_OUTPUT]] == names
        (tmp_path / "clip.wav").write_bytes(files[0])
        for protocol in (["--port", str(server.rest_port)],
                         ["--grpc", "--port", str(server.grpc_port)]):
            code = cli.main(["predict", "--model", name, "--input", str(tmp_path / "clip.wav"),
                             *protocol])
            answer = json.loads(capsys.readouterr().out)
            assert code == 0
            got = (answer["predictions"][0] if "predictions" in answer
                   else {k: v[0] for k, v in answer["outputs"].items()})
            assert got[contract.CLASS_NAME_OUTPUT] == file_names[0]
    finally:
        server.stop()


def test_tflite_and_onnx_take_raw_samples_and_pass_their_gates(run, held_out):
    from ai_edge_litert.interpreter import Interpreter

    _, _, config = run
    task, clips, _ = held_out
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert {"float32", "onnx"} <= set(metadata["formats"])
    assert all(f["blessed"] for f in metadata["formats"].values()), metadata["formats"]
    assert metadata["input"]["shape"] == [None, task.audio_samples]
    assert "log-mel spectrogram" in metadata["input"]["normalization"]
    assert (edge_dir / "labels.txt").read_text().split() == list(task.classes)
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    want = loaded.signatures[contract.EDGE_SIGNATURE](audio=tf.constant(clips[:2]))[
        contract.PROBABILITIES_OUTPUT].numpy()
    for i in range(2):
        interpreter.set_tensor(inp["index"], clips[i:i + 1])
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(out["index"])[0], want[i], atol=1e-4)


def test_report_and_model_card_describe_the_audio(run):
    _, run_id, config = run
    report = (config.pipeline_root / "_runs" / run_id / "report.html").read_text()
    assert "log-mel spectrogram" in report
    card = (config.serving_model_dir / "model_cards" / "1.md").read_text()
    assert "Classifies a 1 s audio clip at 16000 Hz into one of 10 classes" in card
