"""The Beam pipeline arguments every Beam-based component gets (``beam_pipeline_args``)."""

from __future__ import annotations

from typing import Any

WHEEL_DIR = "beam/wheels"
"""Under the output root: dlpipe's wheels built for workers, one directory per content."""


def stages_wheel(beam: Any) -> bool:
    """Whether the workers get dlpipe's wheel: they run in other processes (all runners but
    DirectRunner and the LOOPBACK environment) and ``beam.stage_wheel`` is on."""
    return beam.stage_wheel and not local_workers(beam)


WORKERS_USE_THIS_ENVIRONMENT = "--sdk_container_image=none:workers-run-in-this-environment"
"""Given to the runners whose workers import this environment's packages (DirectRunner,
LOOPBACK), which read no image. It is there for TFX: a Beam-based component given none of
``_TFX_DEPENDENCY_FLAGS`` copies TFX's installed source into a new temporary directory and
builds an sdist of it for the workers, on every run of every such component, and never
deletes it (``tfx.utils.dependency_utils.make_beam_dependency_flags``): about 1.5 s and 49 MB
in the system's temporary directory each time, which filled a 100 GB disk over a few days of
test runs."""

_TFX_DEPENDENCY_FLAGS = ("--extra_package", "--setup_file", "--requirements_file",
                         "--sdk_container_image", "--worker_harness_container_image")
"""The flags whose presence makes TFX skip that build (``--extra_package`` also matches
Beam's ``--extra_packages``)."""


def local_workers(beam: Any) -> bool:
    """Whether Beam's workers run in this Python environment: DirectRunner's (in this process
    or its child processes) and LOOPBACK's (this process)."""
    return beam.runner == "DirectRunner" or beam.environment_type == "LOOPBACK"


def pipeline_args(config: Any) -> list[str]:
    """The runner's flags (``PipelineConfig.beam_args``) and, where the workers need it,
    ``--extra_package`` with dlpipe's wheel (built here when its content changed); for
    workers in this environment, ``WORKERS_USE_THIS_ENVIRONMENT``.

    Raises:
      DlpipeError: the wheel cannot be built (see ``pipeline.beam.package.project_wheel``).
    """
    args = config.beam_args()
    if stages_wheel(config.beam):
        from pipeline.beam.package import project_wheel

        args.append(f"--extra_package={project_wheel(config.root / WHEEL_DIR)}")
    elif local_workers(config.beam) and not any(a.startswith(_TFX_DEPENDENCY_FLAGS) for a in args):
        args.append(WORKERS_USE_THIS_ENVIRONMENT)
    return args
