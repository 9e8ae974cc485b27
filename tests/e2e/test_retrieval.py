"""Recommendations end to end on the bundled generated interactions: the real CLI, TFX, MLMD.

``pipeline/configs/interactions_two_tower.yaml`` as a user runs it: 400 users in 16 taste
groups, each preferring one of 16 genres of 240 items. The two-tower model must be blessed
(TFMA's recall@10) and pushed with recall@10 at least 3x the popularity baseline's (both
printed by the run); its recommendations must recover the hidden structure (a user's top 10
mostly from the user's group's genre); it must answer user ids over REST and gRPC and keep
the user tower plus the catalogue in TFLite and ONNX files that pass their gates.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models.tasks.retrieval_export import ITEMS_OUTPUT, USER_INDEX
from pipeline.config import CONFIG_DIR
from tests.e2e.helpers import dlpipe_run, node_states

pytestmark = pytest.mark.e2e
COMPLETE = 3  # ml_metadata Execution.State


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("interactions")
    return dlpipe_run(run_cli, root, config_file=CONFIG_DIR / "interactions_two_tower.yaml")


@pytest.fixture(scope="module")
def groups(run):
    """The generator's hidden truth: user -> taste group, item -> genre."""
    _, _, config = run
    with open(config.data_dir / "interactions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return ({r["user_id"]: int(r["user_group"]) for r in rows},
            {r["item_id"]: int(r["item_group"]) for r in rows})


def test_blessed_pushed_and_three_times_the_popularity_baseline(run):
    result, run_id, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    states = node_states(config, run_id)
    assert {"CsvExampleGen", "SchemaCurator", "Transform", "Trainer", "Evaluator",
            "InfraValidator", "Pusher", "EdgeExport", "EdgePusher"} <= set(states)
    assert all(execs == [COMPLETE] for execs in states.values()), states
    recall = float(re.search(r"recall_at_k (\d\.\d+) \(eval split\)", result.stdout).group(1))
    popular = float(re.search(r"vs\. the 10 most popular items: recall_at_k (\d\.\d+)",
                              result.stdout).group(1))
    print(f"recall@10 {recall:.4f}, popularity {popular:.4f}, {recall / popular:.2f}x")
    assert recall >= config.evaluate.min_recall and recall >= 3 * popular, result.stdout


def test_recommendations_recover_the_taste_groups(run, groups):
    _, _, config = run
    user_group, item_group = groups
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    users = sorted(user_group)
    out = loaded.signatures[contract.SERVING_SIGNATURE](user_id=tf.constant(users))
    items = out[ITEMS_OUTPUT].numpy()
    assert items.shape == (len(users), 10)
    same = [np.mean([item_group[i.decode()] == user_group[u] for i in row])
            for u, row in zip(users, items, strict=True)]
    print(f"share of recommended items from the user's genre: {np.mean(same):.3f}")
    assert np.mean(same) >= 0.8  # chance: 1/16


def test_served_over_rest_and_grpc(run):
    import requests

    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    _, _, config = run
    name = config.push.model_name
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    want = loaded.signatures[contract.SERVING_SIGNATURE](
        user_id=tf.constant(["u001", "u399", "nobody"]))
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(config.serving_root / "models.config"),
    )).start()
    try:
        answer = requests.post(
            f"http://127.0.0.1:{server.rest_port}/v1/models/{name}:predict",
            data=json.dumps({"instances": ["u001", "u399", "nobody"]}), timeout=30)
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert [p[ITEMS_OUTPUT] for p in predictions] == [
            [i.decode() for i in row] for row in want[ITEMS_OUTPUT].numpy()]
        grpc = GrpcClient(port=server.grpc_port)
        try:
            out = grpc.predict(name, {"user_id": np.array([b"u001"], dtype=object)})
        finally:
            grpc.close()
        assert [i.decode() for i in out[ITEMS_OUTPUT][0]] == predictions[0][ITEMS_OUTPUT]
    finally:
        server.stop()


def test_edge_files_hold_the_user_tower_and_the_catalogue(run):
    from ai_edge_litert.interpreter import Interpreter

    _, _, config = run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == {"float32", "float16", "onnx"}
    assert all(f["blessed"] for f in metadata["formats"].values()), metadata["formats"]
    users = (edge_dir / "users.txt").read_text().split()
    catalogue = (edge_dir / "labels.txt").read_text().split()
    assert len(users) == 400 and len(catalogue) == 240
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    index = users.index("u123")
    interpreter.set_tensor(inp["index"], np.array([[index]], np.int32))
    interpreter.invoke()
    scores = interpreter.get_tensor(out["index"])[0]
    served = loaded.signatures[contract.SERVING_SIGNATURE](user_id=tf.constant(["u123"]))
    assert [catalogue[j] for j in np.argsort(-scores)[:10]] == [
        i.decode() for i in served[ITEMS_OUTPUT].numpy()[0]]
    edge = loaded.signatures[contract.EDGE_SIGNATURE](
        user_index=tf.constant([[index]], tf.int32))[contract.SCORES_OUTPUT].numpy()[0]
    np.testing.assert_allclose(scores, edge, atol=1e-5)
    assert metadata["input"]["name"] == USER_INDEX


def test_model_card_states_recall_against_popularity(run):
    _, _, config = run
    card = (config.serving_model_dir / "model_cards" / "1.md").read_text()
    assert "Recommends the 10 items" in card
    assert re.search(r"Eval recall@10: 0\.\d+ .*recommending the 10 most popular items gives",
                     card), card
