"""Anomalies from real TFDV validation, read back and formatted as the CLI prints them."""

import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.validation_gate.anomalies import (
    ANOMALIES_FILE,
    format_anomalies,
    read_anomalies,
)
from pipeline.config import load_config


def test_out_of_domain_label_is_reported(tmp_path):
    import pandas as pd

    schema = text_format.Parse(
        open(load_config().validate.schema_file).read(), schema_pb2.Schema())
    stats = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"label": [1, 2, 42]}))
    anomalies = tfdv.validate_statistics(stats, schema)
    (tmp_path / "Split-eval").mkdir()
    (tmp_path / "Split-eval" / ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())

    rows = read_anomalies(tmp_path)
    by_feature = {r.feature: r for r in rows}
    assert by_feature["label"].kind == "INT_TYPE_BIG_INT"
    assert "42" in by_feature["label"].description
    assert by_feature["image"].split == "eval"  # absent column
    table = format_anomalies(rows)
    assert table.splitlines()[0].split() == ["split", "feature", "kind", "description"]


def test_clean_data_has_no_rows(tmp_path):
    (tmp_path / "Split-train").mkdir()
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    (tmp_path / "Split-train" / ANOMALIES_FILE).write_bytes(
        anomalies_pb2.Anomalies().SerializeToString())
    assert read_anomalies(tmp_path) == []
