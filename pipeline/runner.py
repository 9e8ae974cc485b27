"""Running a pipeline locally (LocalDagRunner, SQLite MLMD, Beam DirectRunner) with progress.

While the pipeline runs, each component's name, state (executed or cached) and duration is
printed; the full TFX/Beam/TensorFlow log goes to ``pipeline.log`` in the run's directory.
The run's summary is read back from ML Metadata (see ``pipeline.summary``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.config import PipelineConfig
from pipeline.errors import DlpipeError


@dataclasses.dataclass
class ComponentRun:
    name: str
    state: str = "running"  # running, executed, cached, skipped, failed
    seconds: float = 0.0


class ProgressHandler(logging.Handler):
    """Turns the orchestrator's log records into one progress line per component."""

    _RUNNING = re.compile(r"^Component (\S+) is running\.$")
    _FINISHED = re.compile(r"^Component (\S+) is finished\.$")

    def __init__(self, total: int, emit_line: Callable[[str], None]):
        super().__init__(level=logging.INFO)
        self.total = total
        self.emit_line = emit_line
        self.components: list[ComponentRun] = []
        self._started = 0.0

    @property
    def current(self) -> ComponentRun | None:
        """The component started last, until its "finished" record arrives."""
        if self.components and self.components[-1].seconds == 0.0:
            return self.components[-1]
        return None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a foreign record with bad args is not ours to report
            return
        if m := self._RUNNING.match(message):
            self.components.append(ComponentRun(m.group(1)))
            self._started = time.monotonic()
            self.emit_line(f"[{len(self.components):2d}/{self.total}] {m.group(1)} ...")
        elif (run := self.current) is not None:
            if message.startswith("A cached execution"):
                run.state = "cached"
            elif message.startswith("Skipping execution for"):
                run.state = "skipped"
            elif self._FINISHED.match(message):
                run.seconds = time.monotonic() - self._started
                if run.state == "running":
                    run.state = "executed"
                self.emit_line(
                    f"[{len(self.components):2d}/{self.total}] {run.name:<32} "
                    f"{run.state:<9} {run.seconds:6.1f} s"
                )

    def fail_current(self) -> ComponentRun | None:
        run = self.current
        if run is not None:
            run.state = "failed"
            run.seconds = time.monotonic() - self._started
            self.emit_line(
                f"[{len(self.components):2d}/{self.total}] {run.name:<32} "
                f"{run.state:<9} {run.seconds:6.1f} s"
            )
        return run


def check_writable(path: Path, what: str) -> None:
    """Raises DlpipeError unless ``path`` (created if needed) accepts new files."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as e:
        raise DlpipeError(
            f"{what} {path} is not writable ({e.strerror or e}). Expected a directory dlpipe "
            f"can create files in (set output_root or push.serving_root)."
        ) from None


def make_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%dT%H%M%S.%f")


@dataclasses.dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    log_path: Path
    examples: int
    components: list[ComponentRun]
    error: BaseException | None = None

    @property
    def failed_component(self) -> str | None:
        for c in self.components:
            if c.state == "failed":
                return c.name
        return None


@contextlib.contextmanager
def _logs_to(*handlers: logging.Handler):
    """Sends all INFO+ log records (TFX, Beam, TensorFlow) to ``handlers`` only."""
    from absl import logging as absl_logging

    root, tf_logger = logging.getLogger(), logging.getLogger("tensorflow")
    saved = (root.handlers[:], root.level, tf_logger.handlers[:], tf_logger.propagate,
             absl_logging.get_verbosity())
    root.handlers = list(handlers)
    root.setLevel(logging.INFO)
    tf_logger.handlers, tf_logger.propagate = [], True
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        yield
    finally:
        root.handlers, _, tf_logger.handlers, tf_logger.propagate, verbosity = saved
        root.setLevel(saved[1])
        absl_logging.set_verbosity(verbosity)
        for handler in handlers:
            handler.close()


def _quiet_libraries() -> None:
    """Library warnings (deprecations in TFX's dependencies) go to the run's log file."""
    logging.captureWarnings(True)


def run_pipeline(config: PipelineConfig, emit_line: Callable[[str], None] = print
                 ) -> RunOutcome:
    """Prepares the input, runs the pipeline and returns what happened (never raises on a
    component failure: the outcome carries the error)."""
    from pipeline.ingest import prepare_input

    check_writable(config.root, "output_root")
    check_writable(config.serving_root, "Serving root")
    _quiet_libraries()
    emit_line(f"Checking input {config.data_dir} ...")
    _, examples = prepare_input(config.ingest.kind, config.data_dir)
    emit_line(f"  {examples} examples")

    run_id = make_run_id()
    run_dir = config.pipeline_root / "_runs" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    log_path = run_dir / "pipeline.log"

    emit_line("Loading TFX ...")
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.portable import runtime_parameter_utils

    from pipeline.pipeline import create_pipeline

    ir = compiler.Compiler().compile(create_pipeline(config))
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    nodes = len(ir.nodes)

    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    progress = ProgressHandler(nodes, emit_line)
    emit_line(f"Running pipeline '{config.name}' (run {run_id}, {nodes} components)")
    error = None
    with _logs_to(file_handler, progress):
        try:
            LocalDagRunner().run_with_ir(ir)
        except Exception as e:  # a component failed: reported from the outcome
            logging.getLogger(__name__).exception("Pipeline run failed")
            progress.fail_current()
            error = e
    sys.stdout.flush()
    return RunOutcome(run_id, run_dir, log_path, examples, progress.components, error)
