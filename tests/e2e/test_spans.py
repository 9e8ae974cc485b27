"""Continuous training over data spans, end to end with the real CLI, and `dlpipe runs`.

One output root; the spans arrive in order under ``data/span-{SPAN}``:
1. span 1 -> blessed, pushed as version 1;
2. span 2, a weak candidate (1 training step) -> compared with version 1 on span 2's eval
   data, not blessed, version 1 keeps serving;
3. span 2, a full candidate -> compared with version 1, blessed, pushed as version 2;
4. span 3 with drifted data (missing feature, out-of-domain label) -> stops at validation,
   version 2 keeps serving;
and `dlpipe runs` lists those four runs with their span, state, blessing and version.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.examples import image_example, write_records

pytestmark = pytest.mark.e2e

FAST = ("train.train_steps=120", "train.epochs=2", "edge.enabled=false",
        "infra_validate.enabled=false")


def write_span(data: Path, span: int, rows: np.ndarray, drift: bool = False) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    records = []
    for i in rows:
        label = int(digits.target[i])
        if drift and i % 20 == 0:
            label = 42  # out of the label domain 0..9
        example = tf.train.Example.FromString(image_example(digits.images[i].reshape(-1), label))
        if drift and i % 20 == 1:
            del example.features.feature["image"]  # a missing feature
        records.append(example.SerializeToString())
    write_records(data / f"span-{span}" / "part-0.tfrecord.gz", records)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("spans")
    data = root / "data"
    order = np.random.default_rng(0).permutation(1797)
    halves = order[:900], order[900:]
    sets = [f"output_root={root / 'out'}", "ingest.kind=tfrecord",
            f"ingest.path={data}/span-{{SPAN}}", *FAST]

    def run(*extra: str):
        args = [a for s in [*sets, *extra] for a in ("--set", s)]
        result = run_cli("run", *args)
        match = re.search(r"^Run (\S+)$", result.stdout, re.M)
        assert match, result.stdout + result.stderr
        return result, match.group(1)

    def runs(*args: str):
        return run_cli("runs", *args, *[a for s in sets for a in ("--set", s)])

    return {"root": root / "out", "data": data, "halves": halves, "run": run, "runs": runs,
            "results": {}}


def versions(root: Path) -> list[str]:
    """Version directories, and any half-written (dot-prefixed) one, under the model dir."""
    base = root / "serving" / "digits"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if p.is_dir() and (p.name.isdigit() or p.name.startswith(".")))


def test_span_1_is_pushed_as_version_1(env):
    write_span(env["data"], 1, env["halves"][0])
    result, run_id = env["run"]()
    env["results"]["span1"] = run_id
    assert result.returncode == 0, result.stdout + result.stderr
    assert "span:     1" in result.stdout
    assert "blessed:  yes" in result.stdout, result.stdout
    assert versions(env["root"]) == ["1"]


def test_span_2_weak_candidate_is_compared_with_version_1_and_not_pushed(env):
    assert versions(env["root"]) == ["1"]
    write_span(env["data"], 2, env["halves"][1])
    result, run_id = env["run"]("train.train_steps=1", "train.epochs=1")
    env["results"]["weak"] = run_id
    assert result.returncode == 0, result.stdout + result.stderr
    assert "span:     2" in result.stdout
    # The baseline (version 1) was evaluated on span 2's eval split: a diff is reported.
    assert "vs. latest blessed model: sparse_categorical_accuracy -" in result.stdout, \
        result.stdout
    assert "blessed:  NO (" in result.stdout
    assert versions(env["root"]) == ["1"]


def test_span_2_good_candidate_passes_the_baseline_and_is_pushed_as_version_2(env):
    result, run_id = env["run"]("train.train_steps=300", "train.epochs=3")
    env["results"]["span2"] = run_id
    assert result.returncode == 0, result.stdout + result.stderr
    assert "span:     2" in result.stdout
    assert "vs. latest blessed model: sparse_categorical_accuracy" in result.stdout
    # Blessed only if within evaluate.max_accuracy_drop of version 1 on the same data.
    diff = float(re.search(r"vs\. latest blessed model: sparse_categorical_accuracy "
                           r"([-+]\d\.\d+)", result.stdout).group(1))
    assert diff >= -0.01, result.stdout
    assert "blessed:  yes" in result.stdout
    assert f"pushed:   version 2 -> {env['root'] / 'serving' / 'digits' / '2'}" in result.stdout
    assert versions(env["root"]) == ["1", "2"]


def test_drifted_span_3_stops_at_validation_and_version_2_keeps_serving(env):
    write_span(env["data"], 3, env["halves"][0], drift=True)
    result, run_id = env["run"]()
    env["results"]["drift"] = run_id
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "span:     3" in result.stdout
    assert "Data validation failed" in result.stdout
    report = result.stdout.split("Data validation failed", 1)[1]
    assert re.search(r"label\s+INT_TYPE_BIG_INT", report), report
    assert re.search(r"image\s+FEATURE_TYPE_LOW_FRACTION_PRESENT", report), report
    assert versions(env["root"]) == ["1", "2"]


def test_runs_lists_every_run_with_span_state_blessing_and_version(env):
    result = env["runs"]()
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    ids = env["results"]
    assert list(rows) == [ids["span1"], ids["weak"], ids["span2"], ids["drift"]], result.stdout

    def cells(run_id):
        # run id, date, time, took ("12 s" is two cells), then state ...
        return rows[run_id].split()

    span1, weak, span2, drift = (cells(ids[k]) for k in ("span1", "weak", "span2", "drift"))
    assert span1[5:9] == ["complete", "1", "yes", "v1"], span1
    assert weak[5:9] == ["complete", "2", "no", "-"], weak
    assert span2[5:9] == ["complete", "2", "yes", "v2"], span2
    assert drift[5:10] == ["failed", "(ValidationGate)", "3", "-", "-"], drift
    assert float(span2[-1]) >= 0.85


def test_runs_show_gives_components_and_artifact_paths(env):
    run_id = env["results"]["span2"]
    result = env["runs"]("show", run_id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\s+Trainer\s+executed\s+\d+\.\d s", result.stdout, re.M), result.stdout
    assert re.search(r"^\s+ImportExampleGen\s+cached", result.stdout, re.M), result.stdout
    pushed = re.search(r"pushed_model: (\S+)", result.stdout).group(1)
    assert Path(pushed).is_dir()
    assert "push: pushed as version 2" in result.stdout

    missing = env["runs"]("show", "no-such-run")
    assert missing.returncode == 1
    assert "No run 'no-such-run'" in missing.stderr and "Traceback" not in missing.stderr
