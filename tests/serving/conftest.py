"""Fixtures for the serving tests: tiny models exported once, real servers on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from serving import config as config_lib
from serving.config import ServedModel


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SavedModels exported once per session: two digits versions, regress, multi-IO."""
    from tests import model_fixtures as testing

    root = tmp_path_factory.mktemp("exports")
    return {
        "digits_a": testing.export_digits_model(root / "digits_a", seed=0),
        "digits_b": testing.export_digits_model(root / "digits_b", seed=1),
        "regress": testing.export_regress_model(root / "regress"),
        "multi": testing.export_multi_io_model(root / "multi"),
    }


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory: pytest.TempPathFactory, exports: dict[str, Path]) -> Path:
    """A serving root: digits versions 1 and 2 (labels), regress v1, multi v1, models.config."""
    from tests.model_fixtures import publish_version

    root = tmp_path_factory.mktemp("serving_root")
    publish_version(root / "digits", 1, exports["digits_a"])
    publish_version(root / "digits", 2, exports["digits_b"])
    publish_version(root / "regress", 1, exports["regress"])
    publish_version(root / "multi", 7, exports["multi"])
    config_lib.write_models_config(root, [
        ServedModel("digits", version_policy="all", labels={"stable": 1, "canary": 2}),
        ServedModel("regress"),
        ServedModel("multi"),
    ])
    return root


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, serving_root: Path) -> Iterator:
    """The embedded server on free loopback ports, serving ``serving_root``; its gRPC
    transport is dlpipe's unless a test module parametrizes it (indirect)."""
    from serving.server import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(serving_root / "models.config"),
        poll_seconds=0, max_body_bytes=1 << 20, enable_reload_config_api=True,
        grpc_implementation=getattr(request, "param", "dlpipe"),
    )).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def rest_url(server) -> str:
    return f"http://127.0.0.1:{server.rest_port}"


@pytest.fixture(scope="module")
def grpc_client(server):
    from serving.client import GrpcClient

    client = GrpcClient("127.0.0.1", server.grpc_port)
    yield client
    client.close()


def digit_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` pseudo-random 8x8 images with pixels 0..16 (float32)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 17, size=(n, 8, 8)).astype(np.float32)


def saved_model_call(export_dir: Path, signature: str, **inputs) -> dict[str, np.ndarray]:
    """The reference: the SavedModel's signature called in-process."""
    import tensorflow as tf

    loaded = _LOADED.get(str(export_dir))
    if loaded is None:
        loaded = _LOADED[str(export_dir)] = tf.saved_model.load(str(export_dir))
    out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


_LOADED: dict[str, object] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
