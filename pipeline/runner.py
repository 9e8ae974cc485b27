"""Running a pipeline on this machine, component by component, with progress and a clean stop.

The compiled pipeline IR is run node by node with TFX's own ``Launcher``, exactly as
``LocalDagRunner.run_with_ir`` does (same drivers, caching, MLMD publishing), but the loop is
ours: each component's name, state (executed, cached, skipped) and duration come from the
loop and from ML Metadata instead of from log records, and a stop request (SIGTERM, or
``stop`` set by the caller) ends the run *between* components. A component is never cut
off halfway: the Pusher's rename is atomic, so a stopped run leaves no half-written
version. The full TFX/Beam/TensorFlow log goes to ``pipeline.log`` in the run's directory;
the run's summary is read back from ML Metadata (``pipeline.summary``).

One run at a time per pipeline root: a run holds an exclusive lock on
``<pipeline_root>/.dlpipe-run.lock`` (``flock``: the kernel drops it when the process ends,
however it ends) and writes who holds it there. A second run says who and exits 1. A run
that starts marks earlier runs that ended without recording how (killed, out of memory, a
restart) as ``died``, and removes the empty output directories they left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from dlpipe.errors import DlpipeError
from models.tasks.spec import Task
from pipeline.config import PipelineConfig
from pipeline.run_state import (  # noqa: F401 - re-exported: the runner's public names
    DIED,
    ENDED_MS_KEY,
    FAILED_NODE_KEY,
    RUN_LOCK_FILE,
    RUN_STATE_KEY,
    STARTED_MS_KEY,
    LockHolder,
    RunLock,
    lock_holder,
)

_EXECUTION_UNFINISHED = (1, 2)  # ml_metadata Execution.State NEW, RUNNING


class RunStopped(Exception):
    """The run was asked to stop (SIGTERM) and stopped between two components."""


@dataclasses.dataclass
class ComponentRun:
    name: str
    state: str = "running"  # running, executed, cached, skipped, failed
    seconds: float = 0.0


class Progress:
    """One line when a component starts and one when it ends, with state and duration."""

    def __init__(self, total: int, emit_line: Callable[[str], None]):
        self.total = total
        self.emit_line = emit_line
        self.components: list[ComponentRun] = []
        self._started = 0.0

    def start(self, name: str) -> ComponentRun:
        run = ComponentRun(name)
        self.components.append(run)
        self._started = time.monotonic()
        self.emit_line(f"[{len(self.components):2d}/{self.total}] {name} ...")
        return run

    def finish(self, run: ComponentRun, state: str) -> None:
        run.state = state
        run.seconds = time.monotonic() - self._started
        self.emit_line(
            f"[{len(self.components):2d}/{self.total}] {run.name:<32} "
            f"{run.state:<9} {run.seconds:6.1f} s"
        )


def describe_task(task: Task) -> str:
    """The resolved task in one line (what the data decided), for the progress output."""
    if task.is_image:
        what = f"image {'x'.join(map(str, task.image_shape))}"
    elif task.is_text:
        what = f"text {task.text!r}, {task.sequence_length} tokens"
    elif task.is_audio:
        what = (f"audio {task.audio!r}, {task.audio_samples} samples at "
                f"{task.sample_rate} Hz")
    elif task.is_tabular:
        what = f"numeric {list(task.numeric)}, categorical {list(task.categorical)}"
    elif task.is_retrieval:
        what = f"the top {task.top_k} items of {task.item!r} for each {task.user!r}"
    else:
        what = ""
    label = (f"{task.num_classes} classes of {task.label!r}" if task.is_classification else
             f"label {task.label!r}" if task.is_regression else "")
    return "; ".join(p for p in (what, label) if p)


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


def settle_dead_runs(config: PipelineConfig, store, live_run_id: str = "") -> list[str]:
    """Marks runs that ended without a recorded state as ``died``; removes the empty output
    directories their unfinished components left. Call it holding the run lock (then no
    other run of this pipeline root is live).

    Returns:
      One line per dead run, saying what was done.
    """
    from pipeline.history import run_contexts
    from pipeline.summary import executions_by_node

    lines = []
    for ctx, executions in run_contexts(store, config.name):
        if RUN_STATE_KEY in ctx.custom_properties or ctx.name == live_run_id:
            continue
        unfinished = {node: [e for e in execs if e.last_known_state in _EXECUTION_UNFINISHED]
                      for node, execs in executions_by_node(store, ctx.name).items()}
        unfinished = {node: execs for node, execs in unfinished.items() if execs}
        removed = 0
        for node, execs in unfinished.items():
            for e in execs:
                for out in (config.pipeline_root / node).glob(f"*/{e.id}"):
                    if out.is_dir() and not any(p.is_file() for p in out.rglob("*")):
                        shutil.rmtree(out, ignore_errors=True)
                        removed += 1
        started = min(e.create_time_since_epoch for e in executions) / 1000
        ended = max(e.last_update_time_since_epoch for e in executions) / 1000
        node = ", ".join(sorted(unfinished))
        record_run_state(store, ctx.name, DIED, started, ended, node)
        where = f" during {node}" if node else ""
        lines.append(f"Run {ctx.name} died{where} (its process ended without recording how); "
                     f"marked '{DIED}'" + (f", removed {removed} empty output "
                                           f"director{'y' if removed == 1 else 'ies'}"
                                           if removed else ""))
    return lines


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
    span: int | None = None
    task: Task | None = None

    @property
    def stopped(self) -> bool:
        return isinstance(self.error, RunStopped)

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


_STATE_NAMES = {3: "executed", 5: "cached"}  # ml_metadata Execution.State COMPLETE, CACHED


def _execution_state(store, execution_info) -> str:
    """executed, cached or skipped, from what the launcher registered in MLMD."""
    execution_id = getattr(execution_info, "execution_id", None)
    if execution_id is None:
        return "skipped"  # inputs not available: nothing registered, nothing downstream
    [execution] = store.get_executions_by_id([execution_id])
    return _STATE_NAMES.get(execution.last_known_state, "executed")


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event, emit_line: Callable[[str], None]):
    """SIGTERM sets ``stop`` (only from the main thread, where signals are delivered)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if not stop.is_set():
            emit_line("SIGTERM received: stopping after the current component")
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def record_run_state(store, run_id: str, state: str, started: float, ended: float,
                     failed_node: str = "") -> None:
    """Marks the run's MLMD ``pipeline_run`` context with how it ended and when."""
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:  # nothing ran far enough to register the run
        return
    context.custom_properties[RUN_STATE_KEY].string_value = state
    # Epoch milliseconds as doubles: MLMD's MySQL schema keeps int_value in a 32-bit INT.
    context.custom_properties[STARTED_MS_KEY].double_value = round(started * 1000)
    context.custom_properties[ENDED_MS_KEY].double_value = round(ended * 1000)
    context.custom_properties[FAILED_NODE_KEY].string_value = failed_node
    store.put_contexts([context])


def run_ir(ir, connection_config, progress: Progress, stop: threading.Event) -> None:
    """Runs a compiled pipeline IR node by node, as ``LocalDagRunner.run_with_ir`` does.

    Raises:
      RunStopped: when ``stop`` was set; the component that was running finished first.
      Exception: whatever a failing component raised (its execution is marked failed).
    """
    from tfx.orchestration import metadata
    from tfx.orchestration.local import runner_utils
    from tfx.orchestration.portable import launcher

    deployment_config = runner_utils.extract_local_deployment_config(ir)
    log = logging.getLogger(__name__)
    # Nodes are in topological order (the compiler's guarantee LocalDagRunner relies on).
    for node in ir.nodes:
        pipeline_node = node.pipeline_node
        node_id = pipeline_node.node_info.id
        if stop.is_set():
            done = progress.components[-1].name if progress.components else "start-up"
            raise RunStopped(f"stopped on request after {done}; {node_id} and later "
                             "components did not run")
        if pipeline_node.execution_options.HasField("skip"):
            log.info("Skipping component %s.", node_id)
            continue
        component_launcher = launcher.Launcher(
            pipeline_node=pipeline_node,
            mlmd_connection=metadata.Metadata(connection_config),
            pipeline_info=ir.pipeline_info,
            pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(
                deployment_config, node_id),
        )
        log.info("Component %s is running.", node_id)
        run = progress.start(node_id)
        try:
            execution_info = component_launcher.launch()
        except BaseException:
            progress.finish(run, "failed")
            raise
        with metadata.Metadata(connection_config) as m:
            state = _execution_state(m.store, execution_info)
        log.info("Component %s is finished.", node_id)
        progress.finish(run, state)


def run_pipeline(config: PipelineConfig, emit_line: Callable[[str], None] = print,
                 stop: threading.Event | None = None) -> RunOutcome:
    """Prepares the input, runs the pipeline and returns what happened.

    Never raises on a component failure or a stop request: the outcome carries the error.

    Args:
      config: The validated config.
      emit_line: Receives progress lines.
      stop: Set it to stop the run after the current component. When not given, SIGTERM
        sets one (when called from the main thread).

    Raises:
      DlpipeError: bad input or environment (before anything is run or written), or
        another run holds the pipeline root.
    """
    from pipeline.evaluation import check_evaluation
    from pipeline.metadata import check_store

    if config.train.cpu_devices > 1:  # before anything in this process starts TensorFlow
        from models.distribution import split_cpu

        split_cpu(config.train.cpu_devices)
    check_store(config)  # an unreachable MySQL fails here, before any file is written
    check_writable(config.root, "output_root")
    check_writable(config.serving_root, "Serving root")
    check_evaluation(config)  # e.g. a GAN's scorer model, before any data is read
    from pipeline.ingest import describe
    from pipeline.tasks import prepare

    _quiet_libraries()
    # The input check writes nothing under the pipeline root (bundled data goes to the data
    # directory, whole files only): a config that cannot work leaves no trace there.
    emit_line(f"Checking input {describe(config)} ...")
    prepared = prepare(config)
    source, task = prepared.source, prepared.task
    span = source.span
    where = f"span {span}: {len(source.files)} files, " if span is not None else ""
    emit_line(f"  {where}{source.examples} examples; task {task.kind}: {describe_task(task)}")
    with RunLock(config.pipeline_root) as lock:
        return _run_locked(config, prepared, emit_line, stop, lock)


def _run_locked(config: PipelineConfig, prepared: Any, emit_line: Callable[[str], None],
                stop: threading.Event | None, lock: RunLock) -> RunOutcome:
    from pipeline.metadata import connection_config, open_store
    from pipeline.tasks import write_task

    stop = stop or threading.Event()
    source, task = prepared.source, prepared.task
    run_id = make_run_id()
    lock.set_run_id(run_id)
    if config.metadata_path.is_file() or config.metadata.store == "mysql":
        for line in settle_dead_runs(config, open_store(config), run_id):
            emit_line(line)
    run_dir = config.pipeline_root / "_runs" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    write_task(run_dir, task)
    log_path = run_dir / "pipeline.log"

    emit_line("Loading TFX ...")
    from tfx.dsl.compiler import compiler, constants
    from tfx.orchestration.portable import runtime_parameter_utils

    from pipeline.pipeline import create_pipeline

    ir = compiler.Compiler().compile(create_pipeline(config, task, source.tfds_feature_map))
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    nodes = len(ir.nodes)

    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    progress = Progress(nodes, emit_line)
    emit_line(f"Running pipeline '{config.name}' (run {run_id}, {nodes} components)")
    error = None
    started = time.time()
    with _logs_to(file_handler), _stop_on_sigterm(stop, emit_line):
        try:
            run_ir(ir, connection_config(config), progress, stop)
        except RunStopped as e:
            logging.getLogger(__name__).warning("Run stopped: %s", e)
            emit_line(f"Run stopped: {e}")
            error = e
        except Exception as e:  # a component failed: reported from the outcome
            logging.getLogger(__name__).exception("Pipeline run failed")
            error = e
    failed = next((c.name for c in progress.components if c.state == "failed"), "")
    state = "stopped" if isinstance(error, RunStopped) else "failed" if error else "complete"
    try:
        record_run_state(open_store(config), run_id, state, started, time.time(), failed)
    except Exception:  # the run's own outcome matters more than this note about it
        logging.getLogger(__name__).exception("Could not record the run state in MLMD")
    sys.stdout.flush()
    return RunOutcome(run_id, run_dir, log_path, source.examples, progress.components, error,
                      source.span, task)
