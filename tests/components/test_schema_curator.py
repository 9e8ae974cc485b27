"""The schema curation rules on a schema as SchemaGen infers it, checked by TFDV's own
validation: unseen values of a free string column and a missing table value are not
anomalies; a label outside the task's classes is."""

from __future__ import annotations

import pytest

from components.schema_curator.curate import curate
from models.tasks.spec import TABULAR_CLASSIFICATION, Task

TASK = Task(kind=TABULAR_CLASSIFICATION, label="tip", label_dtype="string",
            classes=("generous", "small"), class_keys=("generous", "small"),
            numeric=("fare",), categorical=("company",),
            feature_dtypes={"fare": "float", "company": "string"},
            category_sizes={"company": 2})


def _stats(rows):
    import pandas as pd
    import tensorflow_data_validation as tfdv

    return tfdv.generate_statistics_from_dataframe(pd.DataFrame(rows))


def _anomalies(schema, rows):
    import tensorflow_data_validation as tfdv

    found = tfdv.validate_statistics(_stats(rows), schema)
    return {name: [r.type for r in info.reason] for name, info in found.anomaly_info.items()}


@pytest.fixture
def inferred():
    import tensorflow_data_validation as tfdv

    train = [{"fare": 10.0, "company": "A", "tip": "small"},
             {"fare": 20.0, "company": "B", "tip": "generous"}] * 10
    return tfdv.infer_schema(_stats(train))


def test_inferred_schema_flags_what_curation_relaxes(inferred):
    later = [{"fare": None, "company": "C", "tip": "small"}] * 5
    assert "company" in _anomalies(inferred, later)  # SchemaGen's closed vocabulary


def test_curated_schema_accepts_unseen_categories_and_missing_values(inferred):
    changes = curate(inferred, TASK)
    assert "company: free values (no closed vocabulary)" in changes
    assert "tip: the classes ['generous', 'small']" in changes
    later = [{"fare": None, "company": "C", "tip": "small"},
             {"fare": 12.0, "company": "D", "tip": "generous"}] * 5
    assert _anomalies(inferred, later) == {}


def test_the_label_domain_stays_strict(inferred):
    curate(inferred, TASK)
    found = _anomalies(inferred, [{"fare": 1.0, "company": "A", "tip": "huge"}] * 5)
    assert list(found) == ["tip"]
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    names = [anomalies_pb2.AnomalyInfo.Type.Name(t) for t in found["tip"]]
    assert names == ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"], names
