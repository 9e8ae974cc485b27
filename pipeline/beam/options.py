"""The Beam pipeline arguments every Beam-based component gets (``beam_pipeline_args``)."""

from __future__ import annotations

from typing import Any

WHEEL_DIR = "beam/wheels"
"""Under the output root: dlpipe's wheels built for workers, one directory per content."""


def stages_wheel(beam: Any) -> bool:
    """Whether the workers get dlpipe's wheel: they run in other processes (all runners but
    DirectRunner and the LOOPBACK environment) and ``beam.stage_wheel`` is on."""
    return (beam.stage_wheel and beam.runner != "DirectRunner"
            and beam.environment_type != "LOOPBACK")


def pipeline_args(config: Any) -> list[str]:
    """The runner's flags (``PipelineConfig.beam_args``) and, where the workers need it,
    ``--extra_package`` with dlpipe's wheel (built here when its content changed).

    Raises:
      DlpipeError: the wheel cannot be built (see ``pipeline.beam.package.project_wheel``).
    """
    args = config.beam_args()
    if stages_wheel(config.beam):
        from pipeline.beam.package import project_wheel

        args.append(f"--extra_package={project_wheel(config.root / WHEEL_DIR)}")
    return args
