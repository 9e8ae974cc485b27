"""``dlpipe init``: the real command writes a config for each kind of source that loads,
resolves to the task it describes and builds a pipeline; bad labels and existing files fail
in one line and leave nothing (or the old file) behind.

The CLI runs are slow to start (TensorFlow), so the module's fixture starts them all at once
(a few at a time) and the tests read their results.
"""

from __future__ import annotations

import concurrent.futures
import csv
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
import yaml

from pipeline.config import load_config
from tests.conftest import one_line_error, run_cli

BUNDLED = {
    # case: (init arguments, kind, label, classes (None: regression))
    "digits": (["--set", "ingest.kind=sklearn_digits"], "image_classification", "label",
               tuple(str(i) for i in range(10))),
    "mnist": (["--set", "ingest.kind=mnist_5k"], "image_classification", "label",
              tuple(str(i) for i in range(10))),
    "penguins": (["--set", "ingest.kind=palmerpenguins", "--label", "species"],
                 "tabular_classification", "species", ("Adelie", "Chinstrap", "Gentoo")),
    "penguins_mass": (["--set", "ingest.kind=palmerpenguins", "--label", "body_mass_g"],
                      "tabular_regression", "body_mass_g", None),
    "imdb": (["--set", "ingest.kind=imdb_sample"], "text_classification", "label",
             ("0", "1")),
}


class InitTestImages(tfds.core.GeneratorBasedBuilder):
    """Six 16x16 RGB images with named classes, shaped like a small ``cifar10``."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(16, 16, 3)),
            "label": tfds.features.ClassLabel(names=["ant", "bee"]),
        }))

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples(4), "test": self._generate_examples(2)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"image": np.full((16, 16, 3), 50 * i, np.uint8), "label": i % 2}


def _write_inputs(root: Path) -> None:
    """A CSV (string label, a missing value, an empty column), an image folder, a TFDS set."""
    (root / "trips").mkdir()
    with open(root / "trips" / "trips.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["fare", "passengers", "payment", "tipped", "note"])
        for i in range(40):
            writer.writerow(["" if i == 3 else f"{3 + i * 0.7:.2f}", 1 + i % 4,
                             "card" if i % 3 else "cash", "yes" if i % 2 else "no", ""])
    from PIL import Image

    for name in ("cat", "dog"):
        (root / "pngs" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((16, 16), 60 * i + (name == "dog") * 20, np.uint8),
                            mode="L").save(root / "pngs" / name / f"{i}.png")
    tfds.builder("init_test_images", data_dir=str(root / "tfds")).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """case -> (the command's result, the config path, its output root), run concurrently."""
    root = tmp_path_factory.mktemp("init")
    _write_inputs(root)
    existing = root / "existing.yaml"
    existing.write_text("# mine\n")
    jobs = {case: [*args, "-o", str(root / f"{case}.yaml")]
            for case, (args, *_) in BUNDLED.items()}
    jobs.update({
        # relative paths, from the command's directory (cwd=root)
        "trips": ["--set", "ingest.kind=csv", "--set", "ingest.path=trips", "--label", "tipped",
                  "-o", "trips.yaml"],
        "pngs": ["--set", "ingest.kind=image_folder", "--set", "ingest.path=pngs",
                 "--name", "pets", "-o", str(root / "pngs.yaml")],
        "tfds": ["--set", "ingest.kind=tfds", "--set", "ingest.tfds_name=init_test_images",
                 "--set", "ingest.tfds_data_dir=tfds", "-o", str(root / "tfds.yaml")],
        "bad_label": ["--set", "ingest.kind=csv", "--set", "ingest.path=trips", "--label",
                      "tiped", "-o", str(root / "bad_label.yaml")],
        "exists": ["--set", "ingest.kind=palmerpenguins", "--label", "species",
                   "-o", str(existing)],
    })

    def run(case):
        out_root = root / "runs" / case
        result = run_cli("init", "--set", f"output_root={out_root}", *jobs[case], cwd=root)
        return case, result

    # Refusing an existing file must happen before --force overwrites it.
    results = {"exists": run("exists")[1]}
    results["exists_kept"] = existing.read_text()
    jobs["force"] = [*jobs["exists"], "--force"]
    cases = [c for c in jobs if c != "exists"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results.update(dict(pool.map(run, cases)))
    return root, results


def _written(runs, case: str) -> tuple[Path, dict]:
    root, results = runs
    result = results[case]
    assert result.returncode == 0, result.stdout + result.stderr
    path = root / f"{'existing' if case == 'force' else case}.yaml"
    assert "Config written: " in result.stdout
    assert "dlpipe run --config " in result.stdout
    return path, yaml.safe_load(path.read_text())


def _prepared(path: Path):
    from pipeline.tasks import prepare

    config = load_config(path)
    return config, prepare(config)


@pytest.mark.parametrize("case", list(BUNDLED))
def test_bundled_sources(runs, case):
    from pipeline.pipeline import create_pipeline

    _, kind, label, classes = BUNDLED[case]
    path, data = _written(runs, case)
    root, results = runs
    text = path.read_text()
    assert text.startswith("# Starter config written by `dlpipe init` on ")
    assert "guessed: " in text
    assert data["task"]["kind"] == kind and data["task"]["label"] == label
    assert data["name"] == case and data["push"]["model_name"] == case
    assert data["validate"]["schema_file"] == ""
    assert data["output_root"] == str(root / "runs" / case)
    config, prepared = _prepared(path)
    task = prepared.task
    assert (task.kind, task.label) == (kind, label)
    if classes is None:
        assert "classes" not in data["task"] and not task.classes
        assert data["evaluate"]["max_mae"] == 0.0
    else:
        assert tuple(data["task"]["classes"]) == classes == task.classes
        assert data["evaluate"]["min_accuracy"] == 0.5
        assert data["evaluate"]["min_class_accuracy"] == 0.0
    assert config.model.builder == {"image_classification": "cnn", "text_classification": "lstm"
                                    }.get(kind, "mlp")
    if kind == "image_classification":
        assert data["task"]["image_shape"] == list(task.image_shape)
        assert task.image_shape == ((8, 8, 1) if case == "digits" else (28, 28, 1))
    if kind == "text_classification":
        assert data["task"]["text"] == "text"
        assert (data["task"]["vocab_size"], data["task"]["sequence_length"]) == (10000, 128)
    if kind.startswith("tabular"):
        assert data["task"]["numeric"] == list(task.numeric)
        assert data["task"]["categorical"] == list(task.categorical)
        assert label not in task.numeric + task.categorical
    if case == "penguins_mass":
        assert "holds integers with 94 distinct values" in text
        assert task.numeric == ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")
        assert task.categorical == ("species", "island", "sex", "year")
    summary = [line for line in results[case].stdout.splitlines() if line.startswith("Task:")]
    assert summary and kind in summary[0]
    pipeline = create_pipeline(config, task, prepared.source.tfds_feature_map)
    assert {"Trainer", "Evaluator", "Pusher"} <= {c.id for c in pipeline.components}


def test_csv_with_string_label_and_missing_values(runs):
    root, results = runs
    path, data = _written(runs, "trips")
    assert "Config written: trips.yaml" in results["trips"].stdout
    assert data["ingest"] == {"kind": "csv", "path": str(root / "trips")}  # made absolute
    assert data["task"]["classes"] == ["no", "yes"]  # quoted: YAML would read booleans
    assert data["task"]["numeric"] == ["fare"]
    assert data["task"]["categorical"] == ["passengers", "payment"]  # 4 integer values
    assert "left out, no value in the data: note" in path.read_text()
    _, prepared = _prepared(path)
    assert prepared.task.kind == "tabular_classification"
    assert prepared.task.classes == ("no", "yes")
    assert prepared.source.profile.columns["fare"].missing == 1


def test_image_folder(runs):
    root, _ = runs
    path, data = _written(runs, "pngs")
    assert data["name"] == "pets" and data["push"]["model_name"] == "pets"
    assert data["ingest"]["path"] == str(root / "pngs")
    assert data["task"]["classes"] == ["cat", "dog"]
    assert data["task"]["image_shape"] == [16, 16, 1]
    _, prepared = _prepared(path)
    assert prepared.task.image_shape == (16, 16, 1) and not prepared.task.resize


def test_tfds_image_dataset(runs):
    from pipeline.pipeline import create_pipeline

    root, _ = runs
    path, data = _written(runs, "tfds")
    assert data["ingest"]["tfds_data_dir"] == str(root / "tfds")
    assert data["task"]["kind"] == "image_classification"
    assert data["task"]["classes"] == ["ant", "bee"]
    assert data["task"]["image_shape"] == [16, 16, 3]
    config, prepared = _prepared(path)
    assert prepared.source.tfds_feature_map == {"image": "image", "label": "label"}
    create_pipeline(config, prepared.task, prepared.source.tfds_feature_map)


def test_unknown_label_names_the_columns(runs):
    root, results = runs
    one_line_error(results["bad_label"], 2, "Config key 'task.label' names 'tiped'",
                   "did you mean 'tipped'?",
                   "Expected one of: fare, note, passengers, payment, tipped")
    assert not list(root.glob("*bad_label*"))


def test_existing_file_is_kept_unless_force(runs):
    root, results = runs
    one_line_error(results["exists"], 1, "existing.yaml exists", "--force")
    assert results["exists_kept"] == "# mine\n"
    path, data = _written(runs, "force")
    assert data["task"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert data["name"] == "existing"
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary left


def test_retrieval_on_interactions_and_audio_on_spoken_digits(tmp_path):
    """The kinds added later: retrieval by --kind (its label is the item column), audio by
    guess from an audio folder; both files load and resolve to the task they describe."""
    from tests.components.test_audio_folder_example_gen import write_folder

    write_folder(tmp_path / "clips", rate=22050)
    cases = {
        "rec": ["--kind", "retrieval", "--set", "ingest.kind=synthetic_interactions"],
        "clips": ["--set", "ingest.kind=audio_folder", "--set", "ingest.path=clips"],
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(cases, pool.map(
            lambda c: run_cli("init", "--set", f"output_root={tmp_path / 'runs' / c}",
                              *cases[c], "-o", f"{c}.yaml", cwd=tmp_path), cases),
            strict=True))
    for result in results.values():
        assert result.returncode == 0, result.stdout + result.stderr
    rec = yaml.safe_load((tmp_path / "rec.yaml").read_text())
    assert rec["task"] == {"kind": "retrieval", "user": "user_id", "item": "item_id",
                           "top_k": 10}
    assert rec["model"]["builder"] == "two_tower" and "min_recall" in rec["evaluate"]
    clips = yaml.safe_load((tmp_path / "clips.yaml").read_text())
    assert clips["task"]["kind"] == "audio_classification"
    assert (clips["task"]["sample_rate"], clips["task"]["clip_seconds"]) == (16000, 1.0)
    assert clips["task"]["classes"] == ["high", "low"]
    assert "guessed: ingest.kind=audio_folder provides audio" in (
        tmp_path / "clips.yaml").read_text()
    for case in cases:
        from pipeline.tasks import prepare

        task = prepare(load_config(tmp_path / f"{case}.yaml")).task
        assert task.kind == (rec if case == "rec" else clips)["task"]["kind"]
