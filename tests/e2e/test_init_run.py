"""``dlpipe init`` then ``dlpipe run --config`` on the written file, unchanged, as the README
says: the bundled penguins with ``body_mass_g`` as the label, which init must guess is a
regression (94 distinct integers) and which the run must train, bless and push.

(tests/pipeline/test_init.py checks what init writes for every bundled source, and that each
file loads, resolves and builds the pipeline; this runs one of them for real.)
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.helpers import node_states, run_task

pytestmark = pytest.mark.e2e


def test_an_init_config_runs_unchanged(tmp_path):
    import re

    from pipeline.config import load_config
    from tests.conftest import run_cli

    config_file = tmp_path / "mass.yaml"
    init = run_cli("init", "--set", "ingest.kind=palmerpenguins",
                   "--set", f"output_root={tmp_path / 'runs'}", "--label", "body_mass_g",
                   "-o", "mass.yaml", cwd=tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "Next: dlpipe run --config mass.yaml" in init.stdout, init.stdout
    written = yaml.safe_load(config_file.read_text())
    assert written["task"]["kind"] == "tabular_regression"

    result = run_cli("run", "--config", "mass.yaml", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    config = load_config(config_file)
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    run_id = re.search(r"^Run (\S+)$", result.stdout, re.M).group(1)
    states = node_states(config, run_id)
    assert {"SchemaGen", "SchemaCurator", "Transform", "Trainer", "Evaluator",
            "InfraValidator", "Pusher"} <= set(states)
    task = run_task(config, run_id)
    assert (task.kind, task.label) == ("tabular_regression", "body_mass_g")
    assert list(task.numeric) == written["task"]["numeric"]
    # The summary prints the model's error beside the train mean's.
    assert re.search(r"vs\. predicting the train mean: mean_absolute_error [\d.]+",
                     result.stdout), result.stdout
