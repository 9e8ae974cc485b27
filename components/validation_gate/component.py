"""ValidationGate: fails the run when the ExampleValidator reports anomalies.

TFX's ExampleValidator records anomalies but does not stop a pipeline. This gate runs
after it, and Transform is made to depend on it, so a run on bad data stops before any
transformation or training and nothing is pushed.
"""

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.validation_gate.anomalies import format_anomalies, read_anomalies


class DataValidationError(RuntimeError):
    """The input data does not match the schema."""


@component
def ValidationGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies]) -> None:
    """Raises DataValidationError listing the anomalies, if there are any."""
    rows = read_anomalies(anomalies.uri)
    if rows:
        raise DataValidationError(
            f"Data validation found {len(rows)} anomalies:\n{format_anomalies(rows)}"
        )
