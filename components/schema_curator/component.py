"""SchemaCurator: SchemaGen's inferred schema, curated for the task (``curate.curate``).

Wired between SchemaGen and ExampleValidator/Transform when the config names no curated
schema file (``validate.schema_file``), so that inference does not turn every new category
value into an anomaly while the label's domain stays strict.
"""

import json

from absl import logging
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.schema_curator.curate import curate
from models.tasks.spec import Task

SCHEMA_FILE = "schema.pbtxt"


@component
def SchemaCurator(  # noqa: N802 - a TFX component class
    schema: InputArtifact[standard_artifacts.Schema],
    curated_schema: OutputArtifact[standard_artifacts.Schema],
    task: Parameter[str],
) -> None:
    """Reads the inferred schema, curates it for ``task`` (JSON), writes the result."""
    proto = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    for line in curate(proto, Task.from_dict(json.loads(task))):
        logging.info("SchemaCurator: %s", line)
    io_utils.write_pbtxt_file(f"{curated_schema.uri}/{SCHEMA_FILE}", proto)
