"""The runs ML Metadata knows: listing them and resolving the one a user names."""

from __future__ import annotations

from dlpipe.errors import DlpipeError
from pipeline.config import PipelineConfig

SHOWN_RUNS = 5


def known_runs(config: PipelineConfig) -> list[str]:
    """Run ids recorded in the pipeline's ML Metadata, oldest first.

    Raises:
      DlpipeError: if the metadata store does not exist or cannot be opened.
    """
    from pipeline.summary import metadata_store

    contexts = metadata_store(config).get_contexts_by_type("pipeline_run")
    return [c.name for c in sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.name))]


def resolve_run(config: PipelineConfig, run_id: str | None) -> str:
    """``run_id`` if ML Metadata knows it; the latest run when ``run_id`` is None.

    Raises:
      DlpipeError: naming the run id received and listing the latest few run ids.
    """
    runs = known_runs(config)
    if not runs:
        raise DlpipeError(f"No runs recorded in {config.metadata_location}; run `dlpipe run` "
                          f"first.")
    if run_id is None:
        return runs[-1]
    if run_id in runs:
        return run_id
    latest = ", ".join(reversed(runs[-SHOWN_RUNS:]))
    raise DlpipeError(
        f"Unknown run id {run_id!r} in {config.metadata_location}. Expected one of the recorded "
        f"runs; the latest: {latest}."
    )
