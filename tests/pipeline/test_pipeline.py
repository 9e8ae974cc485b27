"""The pipeline factory's wiring: config keys reach the components that use them."""

from __future__ import annotations

import pytest

from pipeline.config import load_config


@pytest.fixture(scope="module")
def digits_task(tmp_path_factory):
    from pipeline.tasks import prepare

    root = tmp_path_factory.mktemp("wiring")
    return root, prepare(load_config(overrides=[f"output_root={root}"])).task


def _nodes(config, task) -> dict:
    from pipeline.pipeline import create_pipeline

    return {c.id: c for c in create_pipeline(config, task).components}


def test_edge_keys_reach_edge_export(digits_task):
    root, task = digits_task
    config = load_config(overrides=[
        f"output_root={root}", "edge.author=Digits Team", "edge.license=Apache-2.0",
        "edge.rgb_input=true", "edge.formats=[float32,int8]"])
    props = _nodes(config, task)["EdgeExport"].exec_properties
    assert (props["author"], props["license"], props["rgb_input"]) == (
        "Digits Team", "Apache-2.0", 1)
    assert props["formats"] == "float32,int8"


def test_unset_edge_metadata_keeps_the_executor_defaults(digits_task):
    """Empty author/license are not passed: the files say "not stated", and a config
    without these keys keeps the EdgeExport cache of earlier runs."""
    root, task = digits_task
    props = _nodes(load_config(overrides=[f"output_root={root}"]), task)[
        "EdgeExport"].exec_properties
    assert props.get("author") is None and props.get("license") is None
    assert props["rgb_input"] == 0


def test_example_gen_writes_in_input_order_on_the_direct_runner_only(digits_task):
    """The DirectRunner's GroupByKey keeps the order, so TFX's Reshuffle there only holds the
    data in memory (components/input_order.py); other runners keep TFX's executor."""
    from tfx.components.example_gen.import_example_gen.executor import Executor

    from components.input_order import ImportExecutor

    root, task = digits_task
    direct = _nodes(load_config(overrides=[f"output_root={root}"]), task)["ImportExampleGen"]
    assert direct.executor_spec.executor_class is ImportExecutor
    assert "--runner=DirectRunner" in direct.executor_spec.beam_pipeline_args
    portable = _nodes(load_config(overrides=[
        f"output_root={root}", "beam.runner=PortableRunner", "beam.job_endpoint=localhost:8099",
        "beam.environment_type=LOOPBACK"]), task)["ImportExampleGen"]
    assert portable.executor_spec.executor_class is Executor
