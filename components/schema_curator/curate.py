"""Curating an inferred schema for the task, by rule (what a person would do by hand).

SchemaGen infers a closed vocabulary (a string domain) for every string feature and marks
every feature seen in all train examples as required. For a task those are wrong for inputs
and right for the label:

- a string feature other than the label is free: its values in later data need not have been
  seen in training (categorical columns keep an out-of-vocabulary slot; text is not a
  vocabulary), so its domain is dropped and unseen values are not anomalies;
- a table column may be missing in an example (the Transform imputes it), so its presence
  and fixed shape are relaxed (Transform then reads it as sparse);
- the label's domain is the task's classes, exactly: an unknown class is an anomaly; an
  example without a label value weighs 0 (it counts in no loss and no metric), so the
  label's presence is relaxed too.
"""

from __future__ import annotations

from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2

from models.tasks.spec import Task


def curate(schema: Any, task: Task) -> list[str]:
    """Curates ``schema`` (a tensorflow_metadata ``Schema``) in place for ``task``.

    Returns:
      One line per change, for the log.
    """
    changes = []
    for feature in schema.feature:
        is_label = feature.name == task.label
        if is_label and task.is_classification and task.class_keys:
            changes.append(_label_domain(schema, feature, task))
        elif feature.type == schema_pb2.BYTES and (feature.HasField("domain")
                                                or feature.HasField("string_domain")):
            feature.ClearField("domain")
            feature.ClearField("string_domain")
            changes.append(f"{feature.name}: free values (no closed vocabulary)")
        if (is_label or feature.name in task.features) and (task.is_tabular or is_label):
            if feature.HasField("shape") or feature.presence.min_fraction:
                feature.ClearField("shape")
                feature.presence.min_fraction = 0.0
                feature.presence.min_count = 0
                feature.value_count.max = 1
                changes.append(f"{feature.name}: may be missing")
    used = {f.domain for f in schema.feature if f.HasField("domain")}
    kept = [d for d in schema.string_domain if d.name in used]
    if len(kept) != len(schema.string_domain):
        del schema.string_domain[:]
        schema.string_domain.extend(kept)
    return changes


def _label_domain(schema: Any, feature: Any, task: Task) -> str:
    """The label's values: exactly the task's class keys."""
    if feature.type == schema_pb2.BYTES:
        feature.ClearField("domain")
        feature.string_domain.Clear()
        feature.string_domain.name = feature.name
        feature.string_domain.value.extend(task.class_keys)
        return f"{feature.name}: the classes {list(task.class_keys)}"
    keys = sorted(int(k) for k in task.class_keys)
    feature.int_domain.min, feature.int_domain.max = keys[0], keys[-1]
    return f"{feature.name}: classes {keys[0]}..{keys[-1]}"
