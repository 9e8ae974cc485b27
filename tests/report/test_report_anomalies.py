"""A run stopped by data validation still gets a report, and it shows the anomalies."""

from __future__ import annotations

import pytest

from tests.report.conftest import dlpipe_run
from tests.report.html_check import parse

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def anomaly_run(default_run, report_root, tmp_path_factory):
    """The digits with planted anomalies (labels out of domain, a missing image), in the
    default run's output root so there is a served model to leave alone."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from dlpipe.examples import image_example, write_records

    data_dir = tmp_path_factory.mktemp("bad-digits")
    digits = load_digits()
    records = []
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        if i % 50 == 0:
            label = 42
        example = tf.train.Example.FromString(
            image_example(image.reshape(-1), label, "image", "label"))
        if i % 50 == 1:
            del example.features.feature["image"]
        records.append(example.SerializeToString())
    write_records(data_dir / "bad.tfrecord.gz", records)
    return dlpipe_run(report_root, "ingest.kind=tfrecord", f"ingest.path={data_dir}")


def test_anomaly_run_report_shows_the_anomalies(anomaly_run):
    assert anomaly_run.returncode == 1, anomaly_run.stdout + anomaly_run.stderr
    assert f"report:    {anomaly_run.report}" in anomaly_run.stdout
    doc = parse(anomaly_run.report.read_text(encoding="utf-8"))
    assert doc.errors == []
    text = doc.text
    assert "stopped by data validation" in text
    anomalies = text.split("Anomalies (ExampleValidator)", 1)[1].split("Sample inputs", 1)[0]
    assert "INT_TYPE_BIG_INT" in anomalies and "label" in anomalies
    assert "FEATURE_TYPE_LOW_FRACTION_PRESENT" in anomalies and "image" in anomalies
    # What exists is shown (statistics, samples with the out-of-domain label), what does
    # not is said so.
    assert "42" in text.split("Feature statistics", 1)[1]
    assert any("sample input images" in img.alt for img in doc.images)
    assert "No training curves" in text
    assert "Not evaluated" in text
    assert not any("Confusion matrix" in img.alt for img in doc.images)
    # Nothing was pushed by this run, so no card beside the served versions claims it.
    assert (anomaly_run.run_dir / "model_card.md").is_file()
    cards = anomaly_run.config.serving_model_dir / "model_cards"
    assert [p.name for p in cards.iterdir()] == ["1.md"]
    assert anomaly_run.run_id not in (cards / "1.md").read_text()
