"""The REST API: TF Serving's routes, JSON bodies and status mapping.

Routes (case-insensitive, as in http_rest_api_util.cc):

* ``GET  /v1/models/{name}[/versions/{v}|/labels/{label}]`` model status
* ``GET  /v1/models/{name}[/versions/{v}|/labels/{label}]/metadata``
* ``POST /v1/models/{name}[/versions/{v}|/labels/{label}]:(predict|classify|regress)``
* ``GET  /monitoring/prometheus/metrics`` (path from the monitoring config)

The HTTP server is :mod:`serving.http` on an event loop thread. A batched ``:predict`` with
a small body (the common case) is decoded on the loop and batched with the others the loop
received, and the batch runs on the loop (no thread hand-off); other requests
(large bodies, no batching, classify, regress, status, metadata) run on a thread pool
(``--rest_api_num_threads``), never on the loop. Bodies over ``max_body_bytes`` are drained
and answered ``413 {"error": ...}``. Every request has a deadline
(``--rest_api_timeout_in_ms``, default 30 s): past it the client gets ``504`` at once and the
request is dropped at its next stage (a queued one leaves the batch queue). With an
``ssl.SSLContext`` the server speaks HTTPS only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import ssl
import threading
import time
import urllib.parse
from typing import Any

from serving import deadlines, json_codec
from serving.batching import outcome, wait_task
from serving.errors import Code, ServingError, http_status, invalid_argument
from serving.http import HttpServer, Request, Response
from serving.metrics import CONTENT_TYPE
from serving.service import ModelService

log = logging.getLogger("dlpipe.serving.rest")
access_log = logging.getLogger("dlpipe.serving.access")
_MAX_LOGGED_URI = 200

PREDICTION_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_V1_RE = re.compile(r"/v1/.*", re.IGNORECASE)
_INT64_MAX = 2**63 - 1
DEFAULT_TIMEOUT_MS = 30_000
"""TF Serving's ``--rest_api_timeout_in_ms`` default."""
FAST_BODY_BYTES = 64 << 10
"""Batched :predict bodies up to this size are decoded on the event loop (about 0.1 ms);
larger ones on the thread pool, so that one large body cannot stall every connection."""


def _parse_version(text: str | None) -> int | None:
    if not text:
        return None
    # More than 19 significant digits is past int64 (and Python's int() refuses 4,300+).
    if len(text.lstrip("0")) > 19 or int(text) > _INT64_MAX:
        shown = text if len(text) <= 64 else f"{text[:64]}... ({len(text)} digits)"
        raise invalid_argument(
            f"Failed to convert version: {shown} to numeric. Versions are int64 "
            f"(at most {_INT64_MAX})."
        )
    return int(text)


def _json(status: int, body: str | bytes) -> Response:
    return Response(status, body.encode() if isinstance(body, str) else body)


def _error(err: ServingError) -> Response:
    return _json(http_status(err.code), json_codec.encode_error(err.message))


class RestApi:
    """Answers REST requests (the :data:`serving.http.Handler` of the REST server)."""

    def __init__(self, service: ModelService, executor: concurrent.futures.Executor,
                 max_body_bytes: int, metrics_path: str | None, timeout_ms: int) -> None:
        self.service = service
        self.executor = executor
        self.max_body_bytes = max_body_bytes
        self.metrics_path = metrics_path
        self.timeout_ms = timeout_ms

    async def __call__(self, request: Request) -> Response:
        method, path = request.method, request.path
        if method == "GET":
            if self.metrics_path and path == self.metrics_path:
                metrics = self.service.metrics
                if metrics is None:
                    return Response(200, b"", CONTENT_TYPE)
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(self.executor, metrics.exposition)
                return Response(200, body, CONTENT_TYPE)
            m = STATUS_RE.fullmatch(path)
            if m is None:
                return self._not_routed(request)
            api = "metadata" if m.group(4) else "status"
            return await self._run(api, m.group(1) or "", m.group(2), m.group(3), None)
        if method == "POST":
            m = PREDICTION_RE.fullmatch(path)
            if m is None:
                return self._not_routed(request)
            if request.body_size > self.max_body_bytes:
                return _json(413, json_codec.encode_error(
                    f"Request body of {request.body_size} bytes exceeds the limit of "
                    f"{self.max_body_bytes} bytes (--max_request_bytes)"))
            return await self._run(m.group(4).lower(), m.group(1), m.group(2), m.group(3),
                                   request.body)
        if method == "HEAD":
            return Response(405)
        return _json(405, json_codec.encode_error(
            f"HTTP method {method} is not supported: use GET or POST."))

    @staticmethod
    def _not_routed(request: Request) -> Response:
        if _V1_RE.fullmatch(request.path):
            return _error(invalid_argument(
                f"Malformed request: {request.method} {request.path}"))
        return _json(404, json_codec.encode_error(f"Not found: {request.path}"))

    def _timed_out(self) -> ServingError:
        return ServingError(
            Code.DEADLINE_EXCEEDED,
            f"Request timed out after {self.timeout_ms} ms (--rest_api_timeout_in_ms)",
        )

    async def _run(self, api: str, name: str, version_text: str | None, label: str | None,
                   body: bytes | None) -> Response:
        started = time.perf_counter()
        name = urllib.parse.unquote(name)
        label = urllib.parse.unquote(label) if label else None
        holder: dict[str, Any] = {}
        try:
            version = _parse_version(version_text)
            if version is not None and label:
                raise invalid_argument(
                    f"Both model version ({version}) and model version label ({label}) cannot "
                    "be supplied."
                )
            text = None
            if api == "predict" and body is not None and len(body) <= FAST_BODY_BYTES:
                text = await self._batched_predict(name, version, label, body, holder, started)
            if text is None:
                loop = asyncio.get_running_loop()
                work = loop.run_in_executor(
                    self.executor, self._work, api, name, version, label, body, holder
                )
                try:
                    text = await asyncio.wait_for(work, self.timeout_ms / 1000)
                except asyncio.TimeoutError:
                    # The worker stops at its next stage (its deadline has passed too).
                    raise self._timed_out() from None
        except ServingError as e:
            self.service.observe(name, holder.get("version"), api, "rest", e.code, started)
            return _error(e)
        except Exception as e:  # a bug, not a bad request: 500 and a log line
            log.exception("REST %s failed", api)
            self.service.observe(name, holder.get("version"), api, "rest", Code.INTERNAL,
                                 started)
            return _error(ServingError(Code.INTERNAL, f"Internal error: {e}"))
        self.service.observe(name, holder.get("version"), api, "rest", Code.OK, started)
        return _json(200, text)

    async def _batched_predict(self, name: str, version: int | None, label: str | None,
                               body: bytes, holder: dict[str, Any],
                               started: float) -> str | None:
        """A :predict decoded here and queued to its batch scheduler; None when the
        version has no batching (the thread pool runs it then)."""
        loaded = self.service.core.resolve(name, version, label)
        holder["version"] = loaded.version
        if not loaded.batching:
            return None
        timeout = self.timeout_ms / 1000
        with deadlines.deadline(timeout, f"--rest_api_timeout_in_ms={self.timeout_ms}"):
            prepared = self.service.rest_predict_inputs(loaded, body)
        signature, inputs, fmt = prepared
        scheduler = loaded.scheduler(signature.name)
        loaded.check_batched(signature, inputs)
        task = scheduler.enqueue_on_loop(inputs)
        del inputs
        left = timeout - (time.perf_counter() - started)
        if not await wait_task(task, left):
            scheduler.cancel_on_loop(task)
            raise self._timed_out()
        return json_codec.encode_predict(outcome(task), fmt)

    def _work(self, api: str, name: str, version: int | None, label: str | None,
              body: bytes | None, holder: dict[str, Any]) -> str:
        timeout_ms = self.timeout_ms
        with deadlines.deadline(timeout_ms / 1000, f"--rest_api_timeout_in_ms={timeout_ms}"):
            return self._dispatch(api, name, version, label, body, holder)

    def _dispatch(self, api: str, name: str, version: int | None, label: str | None,
                  body: bytes | None, holder: dict[str, Any]) -> str:
        service = self.service
        if api == "status":
            return service.rest_status(name, version, label)
        if not name:
            raise invalid_argument("Missing model name in request.")
        if api == "metadata":
            return service.rest_metadata(name, version, label)
        loaded = service.core.resolve(name, version, label)
        holder["version"] = loaded.version
        assert body is not None
        if api == "predict":
            return service.rest_predict(loaded, body)
        if api == "classify":
            return service.rest_classify(loaded, body)
        return service.rest_regress(loaded, body)


def _log_request(request: Request, status: int) -> None:
    """The access log line, with the URI cut short: a client must not be able to write
    5,000-character lines into the server's log."""
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    uri = request.target
    if len(uri) > _MAX_LOGGED_URI:
        uri = f"{uri[:_MAX_LOGGED_URI]}... ({len(uri)} characters)"
    access_log.log(level, "%d %s %r (%s) %.2fms", status, request.method, uri,
                   request.remote_ip, 1000.0 * (time.perf_counter() - request.started))


class RestServer:
    """The REST API's HTTP server, run on its own thread and event loop.

    Args:
      reuse_port: Bind with SO_REUSEPORT, so that several worker processes share the port.
    """

    def __init__(self, service: ModelService, host: str, port: int, *, threads: int = 16,
                 max_body_bytes: int = 64 << 20, metrics_path: str | None = None,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 ssl_context: ssl.SSLContext | None = None, reuse_port: bool = False) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="rest")
        api = RestApi(service, self._executor, max_body_bytes, metrics_path, timeout_ms)
        self._http = HttpServer(api, max_body_bytes=max_body_bytes,
                                body_timeout=timeout_ms / 1000, idle_timeout=300,
                                ssl_context=ssl_context, access_log=_log_request)
        self._host, self._requested_port = host, port
        self._reuse_port = reuse_port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="rest-loop", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self.port = loop.run_until_complete(
                self._http.start(self._host, self._requested_port, self._reuse_port))
        except BaseException as e:  # reported to start()
            self._error = e
            self._started.set()
            loop.close()
            return
        self._started.set()
        loop.run_forever()
        loop.close()

    def stop(self, grace: float = 10.0) -> None:
        """Stops accepting, lets in-flight requests finish (up to ``grace`` s), closes."""
        if self._loop is None:
            return
        loop = self._loop
        loop.call_soon_threadsafe(self._http.stop_accepting)
        deadline = time.monotonic() + grace
        while self._http.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        loop.call_soon_threadsafe(self._http.close_connections)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._executor.shutdown(wait=False)
        self._loop = None
