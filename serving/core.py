"""The model manager: versions on disk -> loaded servables, policies, labels, hot reload.

A poll thread scans each model's base path every ``file_system_poll_wait_seconds``:

* a version is an integer directory name; dot-prefixed temp dirs are never considered;
* a version dir is loaded only once it is complete (the backend's model file is present)
  and stable (its recursive listing of names, sizes and mtimes did not change between two
  consecutive looks), so a dir still being copied is left alone;
* the version policy (``latest{N}``, ``all``, ``specific``) picks the aspired versions;
  a new version is loaded and warmed up while the old one keeps serving, then requests
  switch to it and the old one is unloaded (in-flight requests keep their reference, so
  none fails);
* a version that fails to load is reported (state END with the error) and the previous
  version keeps serving; it is retried only when its directory changes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.contract import (
    AVAILABLE,
    CLASSIFY_METHOD,
    END,
    LOADING,
    PREDICT_METHOD,
    REGRESS_METHOD,
    UNLOADING,
    version_dirs,
)
from serving import deadlines
from serving.backends import Servable, load_servable, version_dir_is_complete
from serving.backends.base import Signature, example_inputs
from serving.batching import BatchScheduler
from serving.config import BatchingOptions, ServedModel
from serving.errors import Code, ServingError, failed_precondition, invalid_argument, not_found
from serving.metrics import ServerMetrics

log = logging.getLogger("dlpipe.serving")

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


@dataclasses.dataclass
class CoreOptions:
    """Options of the model manager.

    Attributes:
      backend: ``tensorflow``, ``onnx`` or ``tflite``.
      poll_seconds: File system poll interval (``--file_system_poll_wait_seconds``);
        0 polls only at startup and on config reloads.
      batching: Server-side batching parameters, or None for no batching.
      warmup: Run warm-up requests (the SavedModel's warm-up file, else one synthetic
        request per signature) before a version becomes AVAILABLE.
      intra_op_threads: Threads the backend uses inside one operation (0: its default).
      publish_barrier: Called with (model, version, files snapshot, step) once a version
        has loaded and warmed up (step ``loaded``, before requests go to it) and once
        requests go to it (``serving``, before it is reported AVAILABLE); the workers of
        a pool wait there for each other.
    """

    backend: str = "tensorflow"
    poll_seconds: float = 1.0
    batching: BatchingOptions | None = None
    warmup: bool = True
    intra_op_threads: int = 0
    publish_barrier: Callable[[str, int, tuple, str], None] | None = None


_TF_API = {PREDICT_METHOD: "Predict", CLASSIFY_METHOD: "Classify", REGRESS_METHOD: "Regress"}
"""Signature method -> TF Serving's ``API`` label of the runtime latency metric."""


class LoadedVersion:
    """A model version ready for requests (AVAILABLE)."""

    def __init__(
        self,
        model: str,
        version: int,
        servable: Servable,
        batching: BatchingOptions | None,
        metrics: ServerMetrics | None,
    ) -> None:
        self.model = model
        self.version = version
        self.servable = servable
        self._metrics = metrics
        self._schedulers: dict[str, BatchScheduler] = {}
        if batching is not None:
            for name in servable.signatures:
                self._schedulers[name] = BatchScheduler(
                    self._runner(name),
                    batching,
                    on_batch=(lambda n: metrics.batch_size.labels(model, str(version)).observe(n))
                    if metrics else None,
                )

    def _runner(self, signature: str) -> Callable[[Mapping[str, np.ndarray]], dict]:
        return lambda inputs: self._run_servable(signature, inputs, ())

    def _run_servable(self, signature: str, inputs: Mapping[str, np.ndarray],
                      output_filter: Sequence[str]) -> dict[str, np.ndarray]:
        """One model run, timed for ``:tensorflow:serving:runtime_latency``."""
        started = time.perf_counter()
        outputs = self.servable.run(signature, inputs, output_filter)
        if self._metrics is not None:
            sig = self.servable.signatures.get(signature)
            api = _TF_API.get(sig.method_name, "Predict") if sig else "Predict"
            self._metrics.observe_runtime(self.model, api, self.servable.backend,
                                          time.perf_counter() - started)
        return outputs

    def signature(self, name: str) -> Signature:
        return self.servable.signature(name)

    @property
    def batching(self) -> bool:
        """Whether requests to this version go through batch schedulers."""
        return bool(self._schedulers)

    def scheduler(self, signature: str) -> BatchScheduler | None:
        """The batch scheduler of a signature (None without batching)."""
        return self._schedulers.get(signature)

    def run(
        self, signature: str, inputs: Mapping[str, np.ndarray], output_filter: Sequence[str] = ()
    ) -> dict[str, np.ndarray]:
        """Runs a signature, through the batch scheduler when batching is on."""
        sig = self.servable.signature(signature)
        deadlines.check("waiting to run the model")
        scheduler = self._schedulers.get(sig.name)
        if scheduler is None:
            return self._run_servable(sig.name, inputs, output_filter)
        self.check_batched(sig, inputs, output_filter)
        outputs = scheduler.submit(inputs)
        return {k: outputs[k] for k in output_filter} if output_filter else outputs

    @staticmethod
    def check_batched(sig: Signature, inputs: Mapping[str, np.ndarray],
                      output_filter: Sequence[str] = ()) -> None:
        """The checks a batched request gets before it is queued (the servable's own
        checks run on the merged batch)."""
        from serving.backends.base import check_inputs

        check_inputs(sig, inputs)
        if output_filter:
            missing = [a for a in output_filter if a not in sig.outputs]
            if missing:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {missing[0]} Outputs "
                    f"expected to be in the set {{{','.join(sorted(sig.outputs))}}}."
                )

    def close(self) -> None:
        for s in self._schedulers.values():
            s.close()
        self.servable.close()


@dataclasses.dataclass
class VersionStatus:
    state: str
    error: ServingError | None = None


class _Model:
    def __init__(self, config: ServedModel) -> None:
        self.config = config
        self.available: dict[int, LoadedVersion] = {}  # replaced, never mutated (lock-free reads)
        self.status: dict[int, VersionStatus] = {}
        self.failed: dict[int, tuple] = {}  # version -> dir snapshot that failed to load
        self.seen: dict[int, tuple] = {}  # version -> snapshot at the previous look
        self.warned_empty = False


def _snapshot(path: Path) -> tuple:
    entries = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files) + [""]:
            p = os.path.join(root, name) if name else root
            try:
                st = os.stat(p)
            except OSError:
                continue
            entries.append((os.path.relpath(p, path), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def read_tfrecords(path: Path, limit: int) -> Iterable[bytes]:
    """Records of an uncompressed TFRecord file (length, crc, data, crc), without TF."""
    with open(path, "rb") as f:
        for _ in range(limit):
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise invalid_argument(f"Truncated TFRecord header in {path}")
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                raise invalid_argument(f"Truncated TFRecord in {path}")
            yield data


class ServerCore:
    """Models, their versions and the servables that answer requests."""

    def __init__(self, options: CoreOptions, metrics: ServerMetrics | None = None) -> None:
        self.options = options
        self.metrics = metrics
        self._models: dict[str, _Model] = {}
        self._lock = threading.RLock()  # serializes config changes and polls
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set by the service layer: runs warm-up PredictionLogs against a LoadedVersion.
        self.warmup_replayer: Callable[[LoadedVersion, bytes], None] | None = None

    # ----- configuration --------------------------------------------------------------
    def set_models(self, models: Sequence[ServedModel], keep_available: bool = False) -> None:
        """Replaces the model list (HandleReloadConfigRequest): new models are loaded,
        models left out are unloaded, changed policies/labels apply at once.

        New and changed models are loaded before models left out are unloaded, so the
        models kept serve throughout.

        Args:
          models: The new model list.
          keep_available: Refuse (and undo) a change after which no model would have an
            AVAILABLE version while one has now (a reload must not take the server down).

        Raises:
          ServingError: INVALID_ARGUMENT for duplicate names, FAILED_PRECONDITION when
            ``keep_available`` refused the change (the previous config keeps serving).
        """
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise invalid_argument(f"Model names must be unique. Received: {names}")
        with self._lock:
            previous = {n: m.config for n, m in self._models.items()}
            was_available = any(m.available for m in self._models.values())
            if keep_available and was_available:
                # Checked on disk first, so a config that cannot serve anything unloads
                # nothing; a version that then fails to load is caught below.
                reasons = [self._nothing_to_serve(cfg) for cfg in models]
                if all(reasons):
                    raise self._refusal("; ".join(reasons))
            for cfg in models:
                if cfg.name in self._models:
                    self._models[cfg.name].config = cfg
                else:
                    self._models[cfg.name] = _Model(cfg)
            for name in names:
                self._poll_model(self._models[name], initial=True)
            if keep_available and was_available and not any(
                    self._models[n].available for n in names):
                reasons = "; ".join(
                    f"{n}: " + ", ".join(f"version {v} failed to load: {st.error.message}"
                                         for v, st in sorted(self._models[n].status.items())
                                         if st.error is not None)
                    for n in names)
                for name in names:
                    if name not in previous:
                        self._unload_all(self._models.pop(name))
                    else:
                        self._models[name].config = previous[name]
                self.poll_once(initial=True)
                raise self._refusal(reasons)
            for name in [n for n in self._models if n not in names]:
                self._unload_all(self._models.pop(name))

    @staticmethod
    def _refusal(reasons: str) -> ServingError:
        return failed_precondition(
            f"Refused: with this config no model would be available "
            f"({reasons or 'it names no model'}). The server keeps its current models."
        )

    def _nothing_to_serve(self, cfg: ServedModel) -> str:
        """Why a model config would serve no version, judged on disk ("" if it would)."""
        if not os.path.isdir(cfg.base_path):
            return f"{cfg.name}: base_path {cfg.base_path} is not a directory"
        dirs = version_dirs(cfg.base_path)
        if not dirs:
            return (f"{cfg.name}: no version directory (ASCII digits, e.g. 1/) under "
                    f"{cfg.base_path}")
        complete = [v for v, p in dirs.items()
                    if version_dir_is_complete(p, self.options.backend)]
        if not self._aspired(_Model(cfg), complete):
            return (f"{cfg.name}: no complete version under {cfg.base_path} that its "
                    f"{cfg.version_policy} policy serves (found {sorted(dirs)})")
        return ""

    def model_names(self) -> list[str]:
        return sorted(self._models)

    def serves(self, name: str) -> bool:
        """Whether ``name`` is a model of the current config (loaded or not)."""
        return name in self._models

    # ----- polling ----------------------------------------------------------------------
    def start_polling(self) -> None:
        if self.options.poll_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll_loop, name="fs-poll", daemon=True)
        self._thread.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.options.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # the poll thread must survive anything on disk
                log.exception("File system poll failed")

    def stop(self) -> None:
        """Stops polling and unloads every model."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            for model in self._models.values():
                self._unload_all(model)

    def poll_once(self, initial: bool = False) -> None:
        """One scan of every base path; loads and unloads versions as the policy says.

        Args:
          initial: Look twice 50 ms apart for stability instead of comparing with the
            previous poll (so startup does not wait a poll interval).
        """
        with self._lock:
            for model in list(self._models.values()):
                self._poll_model(model, initial)

    def _version_dirs(self, model: _Model) -> dict[int, Path]:
        return version_dirs(model.config.base_path)

    def _ready_versions(self, model: _Model, dirs: dict[int, Path], initial: bool) -> dict:
        snaps = {v: _snapshot(p) for v, p in dirs.items()
                 if version_dir_is_complete(p, self.options.backend)}
        if initial and snaps:
            time.sleep(0.05)
            previous = snaps
            snaps = {v: _snapshot(dirs[v]) for v in previous}
        else:
            previous = model.seen
        model.seen = snaps
        ready = {v: s for v, s in snaps.items() if previous.get(v) == s}
        return ready

    def _aspired(self, model: _Model, ready: Iterable[int]) -> list[int]:
        cfg = model.config
        versions = sorted(ready)
        if cfg.version_policy == "all":
            return versions
        if cfg.version_policy == "specific":
            return [v for v in versions if v in set(cfg.versions)]
        return versions[-cfg.num_versions:]

    def _poll_model(self, model: _Model, initial: bool) -> None:
        dirs = self._version_dirs(model)
        ready = self._ready_versions(model, dirs, initial)
        if not dirs and not model.warned_empty:
            log.warning(
                "No versions of servable %s found under base path %s",
                model.config.name, model.config.base_path,
            )
            model.warned_empty = True
        on_disk_available = {v for v in model.available if v in dirs}
        while True:
            # Failed versions are retried only when their directory changed; a version that
            # fails now drops out and the policy falls back to the next one (TF Serving's
            # availability-preserving behaviour: the previous version keeps serving).
            loadable = {v for v in ready if model.failed.get(v) != ready[v]}
            aspired = self._aspired(model, loadable | on_disk_available)
            to_load = [v for v in aspired if v not in model.available]
            if not to_load:
                break
            for v in to_load:
                self._load(model, v, dirs[v], ready[v])
        for v in [v for v in model.available if v not in aspired]:
            self._unload(model, v)

    def _load(self, model: _Model, version: int, path: Path, snapshot: tuple) -> None:
        name = model.config.name
        model.status[version] = VersionStatus(LOADING)
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        started = time.monotonic()
        try:
            servable = load_servable(path, self.options.backend,
                                     intra_op_threads=self.options.intra_op_threads)
            loaded = LoadedVersion(name, version, servable, self.options.batching, self.metrics)
            if self.options.warmup:
                self._warmup(loaded, path)
            if self.options.publish_barrier is not None:
                self.options.publish_barrier(name, version, snapshot, "loaded")
        except Exception as e:  # any load failure is reported, never raised to the poller
            err = e if isinstance(e, ServingError) else ServingError(Code.UNKNOWN, str(e))
            log.error("Loading servable: {name: %s version: %d} failed: %s", name, version, err)
            model.status[version] = VersionStatus(END, err)
            model.failed[version] = snapshot
            return
        model.failed.pop(version, None)
        available = dict(model.available)
        available[version] = loaded
        model.available = available
        if self.options.publish_barrier is not None:
            self.options.publish_barrier(name, version, snapshot, "serving")
        model.status[version] = VersionStatus(AVAILABLE)
        if self.metrics:
            self.metrics.version_state.labels(name, str(version)).set(1)
        log.info(
            "Successfully loaded servable version {name: %s version: %d} in %.2fs",
            name, version, time.monotonic() - started,
        )

    def _warmup(self, loaded: LoadedVersion, path: Path) -> None:
        warmup_file = path / WARMUP_FILE
        if warmup_file.is_file() and self.options.backend == "tensorflow":
            if self.warmup_replayer is None:
                return
            for record in read_tfrecords(warmup_file, MAX_WARMUP_RECORDS):
                self.warmup_replayer(loaded, record)  # errors fail the load, as in TF Serving
            return
        for sig in loaded.servable.signatures.values():
            if any(spec.dtype == 7 for spec in sig.inputs.values()):
                continue  # DT_STRING inputs (serialized tf.Examples) have no neutral value
            try:
                loaded.servable.run(sig.name, example_inputs(sig))
            except Exception as e:  # synthetic inputs may not suit every model
                log.debug("Synthetic warm-up of %s failed (ignored): %s", sig.name, e)

    def _unload(self, model: _Model, version: int) -> None:
        loaded = model.available.get(version)
        if loaded is None:
            return
        model.status[version] = VersionStatus(UNLOADING)
        available = dict(model.available)
        del available[version]
        model.available = available
        # Requests holding `loaded` finish on it; batch workers drain before closing.
        threading.Thread(target=loaded.close, daemon=True).start()
        model.status[version] = VersionStatus(END)
        if self.metrics:
            self.metrics.version_state.labels(model.config.name, str(version)).set(0)
        log.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)

    def _unload_all(self, model: _Model) -> None:
        for v in list(model.available):
            self._unload(model, v)

    # ----- lookups ----------------------------------------------------------------------
    def _model(self, name: str) -> _Model | None:
        return self._models.get(name)

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> LoadedVersion:
        """The version answering a request (ServerCore::GetServableHandle).

        Raises:
          ServingError: NOT_FOUND for an unknown model or a version that is not loaded,
            INVALID_ARGUMENT for an unknown label.
        """
        model = self._model(name)
        if label:
            if model is None or label not in model.config.labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = int(model.config.labels[label])
        if model is None or not model.available:
            raise not_found(
                "Servable not found for request: "
                + (f"Specific({name}, {version})" if version is not None else f"Latest({name})")
            )
        available = model.available
        if version is None:
            return available[max(available)]
        loaded = available.get(version)
        if loaded is None:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return loaded

    def version_status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[tuple[int, VersionStatus]]:
        """(version, status) pairs, as GetModelStatus reports them.

        Raises:
          ServingError: NOT_FOUND "Could not find ..." like TF Serving.
        """
        model = self._model(name)
        if label:
            if model is None or label not in model.config.labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = int(model.config.labels[label])
        if version is not None:
            status = model.status.get(version) if model else None
            if status is None:
                raise not_found(f"Could not find version {version} of model {name}")
            return [(version, status)]
        if model is None or not model.status:
            raise not_found(f"Could not find any versions of model {name}")
        return sorted(model.status.items())

    def all_versions(self) -> Any:
        return {n: dict(m.status) for n, m in self._models.items()}
