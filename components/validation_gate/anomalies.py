"""Reading ExampleValidator's anomalies into rows a person can read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

ANOMALIES_FILE = "SchemaDiff.pb"


@dataclasses.dataclass(frozen=True)
class Anomaly:
    split: str
    feature: str
    kind: str
    description: str

    def __str__(self) -> str:
        return f"[{self.split}] {self.feature}: {self.kind}: {self.description}"


def read_anomalies(anomalies_uri: str | Path) -> list[Anomaly]:
    """Reads every split's anomalies under an ExampleAnomalies artifact URI."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    rows = []
    for split_dir in sorted(Path(anomalies_uri).glob("Split-*")):
        path = split_dir / ANOMALIES_FILE
        if not path.exists():
            continue
        proto = anomalies_pb2.Anomalies.FromString(path.read_bytes())
        split = split_dir.name[len("Split-") :]
        for feature, info in sorted(proto.anomaly_info.items()):
            kinds = sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})
            rows.append(
                Anomaly(
                    split,
                    feature,
                    ", ".join(kinds) or "UNKNOWN",
                    info.description or info.short_description,
                )
            )
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            kinds = sorted({anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason})
            rows.append(Anomaly(split, "(dataset)", ", ".join(kinds), info.description))
    return rows


def format_anomalies(rows: list[Anomaly]) -> str:
    """A table: split, feature, kind, description."""
    header = ("split", "feature", "kind", "description")
    table = [header] + [(a.split, a.feature, a.kind, a.description) for a in rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(r))
        for r in table
    )
