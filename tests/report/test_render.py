"""Report pieces without a pipeline run: rendering what little a run produced, samples of
text and tabular tasks, per-class metrics, the model card's interval, the run hook's
warning."""

from __future__ import annotations

import pytest

from dlpipe.files import write_atomically
from models.tasks.spec import TABULAR_CLASSIFICATION, TEXT_CLASSIFICATION, Task
from pipeline.config import load_config
from pipeline.report import model_card, plots, render, samples
from pipeline.report.evaluation import class_metrics
from pipeline.report.facts import ConfusionMatrix, ReportFacts
from pipeline.summary import RunSummary
from tests.report.html_check import parse


def _empty_facts() -> ReportFacts:
    return ReportFacts(run_id="r1", pipeline_name="p", task="t", generated_at="now",
                       status="failed at start-up", completed=False,
                       summary=RunSummary("r1"), missing=["everything: nothing ran"])


def _render(facts: ReportFacts, tmp_path) -> str:
    config = load_config(overrides=[f"output_root={tmp_path}"])
    card = model_card.build_model_card(facts, config, None, {})
    return render.render_report(facts, plots.all_figures(facts), card, ["card.md"])


def test_a_run_that_produced_nothing_still_renders_every_section(tmp_path):
    doc = parse(_render(_empty_facts(), tmp_path))
    assert doc.errors == []
    assert {"data", "training", "evaluation", "deployment", "model-card"} <= set(doc.ids)
    assert doc.images == []
    for said in ("failed at start-up", "everything: nothing ran", "StatisticsGen did not run",
                 "Not checked: ExampleValidator did not run", "No training curves",
                 "Not evaluated", "No edge export in this run", "generative models"):
        assert said in doc.text, said


def _write_examples(path, examples) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for features in examples:
            feature = {}
            for key, value in features.items():
                if isinstance(value, bytes):
                    feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
                elif isinstance(value, float):
                    feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
                else:
                    feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


def test_text_task_samples_are_texts(tmp_path):
    task = Task(kind=TEXT_CLASSIFICATION, label="label", label_dtype="int",
                classes=("neg", "pos"), class_keys=("0", "1"), text="review")
    _write_examples(tmp_path / "Split-eval" / "data.gz", [
        {"review": b"<b>great</b> film", "label": 1},
        {"label": 0},  # no text: skipped and counted
        {"review": b"dull", "label": 0},
    ])
    got = samples.read_samples(tmp_path, "eval", task)
    assert (got.kind, got.texts, got.labels) == ("texts", ["<b>great</b> film", "dull"],
                                                 ["pos", "neg"])
    assert got.note.startswith("1 of the first examples")
    facts = _empty_facts()
    facts.samples = got
    html = _render(facts, tmp_path)
    assert "&lt;b&gt;great&lt;/b&gt; film" in html  # escaped, never markup
    assert parse(html).errors == []
    assert samples.label_counts(tmp_path, "eval", task) == {"neg": 2, "pos": 1}


def test_tabular_task_samples_are_rows(tmp_path):
    task = Task(kind=TABULAR_CLASSIFICATION, label="species", label_dtype="int",
                classes=("Adelie", "Chinstrap", "Gentoo"), class_keys=("0", "1", "2"),
                numeric=("bill_mm",), categorical=("island",))
    _write_examples(tmp_path / "Split-eval" / "data.gz", [
        {"bill_mm": 39.1, "island": b"Torgersen", "species": 0},
        {"bill_mm": 46.5, "species": 2},
    ])
    got = samples.read_samples(tmp_path, "eval", task)
    assert got.kind == "rows"
    assert got.columns == ["bill_mm", "island"]
    assert got.rows == [["39.1", "Torgersen"], ["46.5", "(missing)"]]
    assert got.labels == ["Adelie", "Gentoo"]  # class ids shown as their class names
    facts = _empty_facts()
    facts.samples = got
    doc = parse(_render(facts, tmp_path))
    assert "Torgersen" in doc.text and doc.errors == []


def test_class_metrics_from_a_confusion_matrix():
    confusion = ConfusionMatrix(["a", "b"], [[8.0, 2.0], [0.0, 5.0]], "test")
    rows = class_metrics({"a": 0.8, "b": 1.0}, confusion)
    a, b = rows
    assert (a.label, a.accuracy, a.support, a.recall, a.precision) == ("a", 0.8, 10, 0.8, 1.0)
    assert a.f1 == pytest.approx(2 * 0.8 / 1.8)
    assert (b.support, b.recall, b.precision) == (5, 1.0, pytest.approx(5 / 7))


def test_confusion_matrix_and_curve_figures_are_pngs():
    from pipeline.report.facts import Curve

    confusion = ConfusionMatrix(["0", "1", "2"], [[5, 1, 0], [0, 6, 0], [1, 0, 4]], "test")
    image = plots.confusion_matrix(confusion)
    assert image.png.startswith(b"\x89PNG") and image.data_uri.startswith("data:image/png;")
    curves = [Curve("loss", "train", [1, 2], [1.0, 0.5]),
              Curve("loss", "validation", [1, 2], [1.1, 0.7])]
    assert plots.training_curves(curves).png.startswith(b"\x89PNG")
    assert plots.training_curves([]) is None and plots.confusion_matrix(None) is None


def test_wilson_interval():
    low, high = model_card.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert model_card.wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match=r"Received: successes=11, n=10"):
        model_card.wilson_interval(11, 10)


def test_served_card_is_written_atomically_beside_the_versions(tmp_path):
    config = load_config(overrides=[f"output_root={tmp_path}"])
    path = model_card.served_card_path(config, "3")
    assert path == config.serving_root / "digits" / "model_cards" / "3.md"
    write_atomically(path, "first")
    write_atomically(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["3.md"]


def test_report_failure_after_a_run_is_one_warning_line(tmp_path, capsys):
    from pipeline.report import ERROR_LOG, report_after_run
    from pipeline.runner import RunOutcome

    # No run was ever recorded under this output root: the report cannot be read.
    config = load_config(overrides=[f"output_root={tmp_path}"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = RunOutcome("r1", run_dir, run_dir / "pipeline.log", 0, [])
    assert report_after_run(config, outcome, RunSummary("r1")) is None
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("  warning: report not written (")
    assert "Traceback" in (run_dir / ERROR_LOG).read_text()
