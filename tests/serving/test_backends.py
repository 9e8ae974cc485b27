"""ONNX Runtime and LiteRT backends behind the same APIs, on files converted here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.serving.conftest import digit_images, saved_model_call


@pytest.fixture(scope="module")
def edge_root(tmp_path_factory: pytest.TempPathFactory, exports) -> Path:
    """``<edge_root>/digits/1/{model.onnx, model_float32.tflite, metadata.json}``."""
    import tensorflow as tf
    import tf2onnx

    root = tmp_path_factory.mktemp("edge")
    version_dir = root / "digits" / "1"
    version_dir.mkdir(parents=True)
    loaded = tf.saved_model.load(str(exports["digits_a"]))
    edge = loaded.signatures["edge"]

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.float32, name="image")])
    def probabilities(image):
        return {"probabilities": edge(image=image)["probabilities"]}

    tf2onnx.convert.from_function(probabilities, input_signature=probabilities.input_signature,
                                  opset=13, output_path=str(version_dir / "model.onnx"))
    # from_saved_model aborts on Keras 3 variables in a tf.Module; the concrete function
    # with its trackable owner converts (what components/edge_export does too).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([edge], loaded)
    (version_dir / "model_float32.tflite").write_bytes(converter.convert())
    # The edge export's metadata.json (components/edge_export/metadata.py), trimmed.
    (version_dir / "metadata.json").write_text(json.dumps({
        "input": {"name": "image", "shape": [None, 8, 8], "dtype": "float32"},
        "output": {"name": "probabilities", "shape": [None, 10], "dtype": "float32"},
        "formats": {"onnx": {"file": "model.onnx", "blessed": True},
                    "float32": {"file": "model_float32.tflite", "blessed": True}},
    }))
    return root


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_backend_serves_the_same_answers_over_rest_and_grpc(backend: str, edge_root: Path,
                                                            exports) -> None:
    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    server = ModelServer(ServerOptions(grpc_port=0, rest_port=0, backend=backend,
                                       model_name="digits",
                                       model_base_path=str(edge_root / "digits"),
                                       poll_seconds=0)).start()
    try:
        images = digit_images(5, seed=9)
        want = saved_model_call(exports["digits_a"], "edge", image=images)["probabilities"]
        rest = f"http://127.0.0.1:{server.rest_port}/v1/models/digits"
        resp = requests.post(rest + ":predict", data=json.dumps({"instances": images.tolist()}),
                             timeout=30)
        assert resp.status_code == 200, resp.text
        got = np.array([p if isinstance(p, list) else p["probabilities"]
                        for p in resp.json()["predictions"]])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

        client = GrpcClient("127.0.0.1", server.grpc_port)
        try:
            out = client.predict("digits", {"image": images})
            assert list(out) == ["probabilities"]  # the names metadata.json declares
            np.testing.assert_allclose(out["probabilities"], want, rtol=1e-4, atol=1e-6)
            sig = client.signature_defs("digits").signature_def["serving_default"]
            assert list(sig.inputs) == ["image"]
            assert [d.size for d in sig.inputs["image"].tensor_shape.dim][1:] == [8, 8]
        finally:
            client.close()

        status = requests.get(rest, timeout=10).json()
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        bad = requests.post(rest + ":predict", data=json.dumps({"instances": [[1.0, 2.0]]}),
                            timeout=30)
        assert bad.status_code == 400
        assert "does not match the signature's shape" in bad.json()["error"]
    finally:
        server.stop()


def test_backend_ignores_dirs_without_its_model_file(tmp_path: Path, edge_root: Path) -> None:
    import shutil

    from serving.config import ServedModel
    from serving.core import CoreOptions, ServerCore

    base = tmp_path / "digits"
    shutil.copytree(edge_root / "digits" / "1", base / "1")
    (base / "2").mkdir()
    (base / "2" / "metadata.json").write_text("{}")  # the exporter has not written model.onnx
    core = ServerCore(CoreOptions(backend="onnx", poll_seconds=0))
    try:
        core.set_models([ServedModel("digits", base_path=str(base))])
        assert [v for v, _ in core.version_status("digits")] == [1]
    finally:
        core.stop()


def test_file_the_edge_report_did_not_bless_is_not_served(tmp_path: Path,
                                                          edge_root: Path) -> None:
    import shutil

    from serving.config import ServedModel
    from serving.core import CoreOptions, ServerCore

    base = tmp_path / "digits"
    shutil.copytree(edge_root / "digits" / "1", base / "1")
    meta = json.loads((base / "1" / "metadata.json").read_text())
    meta["formats"]["onnx"].update(blessed=False, max_abs_diff=0.3)
    (base / "1" / "metadata.json").write_text(json.dumps(meta))
    core = ServerCore(CoreOptions(backend="onnx", poll_seconds=0))
    try:
        core.set_models([ServedModel("digits", base_path=str(base))])
        ((version, status),) = core.version_status("digits")
        assert status.state == "END"
        assert "was not blessed by the edge export report" in status.error.message
    finally:
        core.stop()
