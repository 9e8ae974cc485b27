"""The REST API on tornado: TF Serving's routes, JSON bodies and status mapping.

Routes (case-insensitive, as in http_rest_api_util.cc):

* ``GET  /v1/models/{name}[/versions/{v}|/labels/{label}]`` model status
* ``GET  /v1/models/{name}[/versions/{v}|/labels/{label}]/metadata``
* ``POST /v1/models/{name}[/versions/{v}|/labels/{label}]:(predict|classify|regress)``
* ``GET  /monitoring/prometheus/metrics`` (path from the monitoring config)

Model work runs on a thread pool, never on the IO loop. Bodies over ``max_body_bytes`` are
drained and answered ``413 {"error": ...}``. Every request has a deadline
(``--rest_api_timeout_in_ms``, default 30 s): past it the client gets ``504`` at once and the
worker drops the request at its next stage. With an ``ssl.SSLContext`` the server speaks
HTTPS only.
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

import tornado.httpserver
import tornado.netutil
import tornado.web

from serving import deadlines, json_codec
from serving.errors import Code, ServingError, http_status, invalid_argument
from serving.metrics import CONTENT_TYPE
from serving.service import ModelService

log = logging.getLogger("dlpipe.serving.rest")
access_log = logging.getLogger("tornado.access")
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


class _State:
    """What every handler shares."""

    def __init__(self, service: ModelService, executor: concurrent.futures.Executor,
                 max_body_bytes: int, metrics_path: str | None, timeout_ms: int) -> None:
        self.service = service
        self.executor = executor
        self.max_body_bytes = max_body_bytes
        self.metrics_path = metrics_path
        self.timeout_ms = timeout_ms
        self.inflight = 0
        self.lock = threading.Lock()


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


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Every path; dispatches by TF Serving's regexes."""

    def initialize(self, state: _State) -> None:
        self.state = state
        self._chunks: list[bytes] = []
        self._size = 0
        self._counted = False

    def prepare(self) -> None:
        with self.state.lock:
            self.state.inflight += 1
        self._counted = True
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit():
            self._size = int(length) if int(length) > self.state.max_body_bytes else 0

    def data_received(self, chunk: bytes) -> None:
        if self._size > self.state.max_body_bytes:
            return  # draining an oversized body
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > self.state.max_body_bytes:
            self._chunks.clear()

    def on_finish(self) -> None:
        self._release()

    def on_connection_close(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            with self.state.lock:
                self.state.inflight -= 1

    def check_xsrf_cookie(self) -> None:  # an API, not a form
        pass

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own errors (405 for PUT, DELETE...) as TF Serving's JSON error body."""
        self.set_header("Content-Type", "application/json")
        if self.request.method == "HEAD":
            self.finish()
            return
        if status_code == 405:
            message = f"HTTP method {self.request.method} is not supported: use GET or POST."
        else:
            message = self._reason
        self.finish(json_codec.encode_error(message))

    def _reply(self, status: int, body: str | bytes, content_type: str = "application/json"):
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)

    def _error(self, err: ServingError) -> None:
        self._reply(http_status(err.code), json_codec.encode_error(err.message))

    async def get(self) -> None:
        path = self.request.path
        if self.state.metrics_path and path == self.state.metrics_path:
            metrics = self.state.service.metrics
            body = metrics.exposition() if metrics is not None else b""
            self._reply(200, body, CONTENT_TYPE)
            return
        m = STATUS_RE.fullmatch(path)
        if m is None:
            self._not_routed()
            return
        api = "metadata" if m.group(4) else "status"
        await self._run(api, m.group(1) or "", m.group(2), m.group(3), None)

    async def post(self) -> None:
        path = self.request.path
        m = PREDICTION_RE.fullmatch(path)
        if m is None:
            self._not_routed()
            return
        if self._size > self.state.max_body_bytes:
            self._reply(413, json_codec.encode_error(
                f"Request body of {self._size} bytes exceeds the limit of "
                f"{self.state.max_body_bytes} bytes (--max_request_bytes)"))
            return
        body = b"".join(self._chunks)
        await self._run(m.group(4).lower(), m.group(1), m.group(2), m.group(3), body)

    def _not_routed(self) -> None:
        if _V1_RE.fullmatch(self.request.path):
            self._error(invalid_argument(
                f"Malformed request: {self.request.method} {self.request.path}"))
        else:
            self._reply(404, json_codec.encode_error(f"Not found: {self.request.path}"))

    async def _run(self, api: str, name: str, version_text: str | None, label: str | None,
                   body: bytes | None) -> None:
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
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(
                self.state.executor, self._work, api, name, version, label, body, holder
            )
            try:
                text = await asyncio.wait_for(work, self.state.timeout_ms / 1000)
            except asyncio.TimeoutError:
                # The worker stops at its next stage (its deadline has passed too).
                raise ServingError(
                    Code.DEADLINE_EXCEEDED,
                    f"Request timed out after {self.state.timeout_ms} ms "
                    "(--rest_api_timeout_in_ms)",
                ) from None
        except ServingError as e:
            self.state.service.observe(name, holder.get("version"), api, "rest", e.code, started)
            self._error(e)
            return
        except Exception as e:  # a bug, not a bad request: 500 and a log line
            log.exception("REST %s %s failed", self.request.method, self.request.path)
            self.state.service.observe(name, holder.get("version"), api, "rest", Code.INTERNAL,
                                       started)
            self._error(ServingError(Code.INTERNAL, f"Internal error: {e}"))
            return
        self.state.service.observe(name, holder.get("version"), api, "rest", Code.OK, started)
        self._reply(200, text)

    def _work(self, api: str, name: str, version: int | None, label: str | None,
              body: bytes | None, holder: dict[str, Any]) -> str:
        timeout_ms = self.state.timeout_ms
        with deadlines.deadline(timeout_ms / 1000, f"--rest_api_timeout_in_ms={timeout_ms}"):
            return self._dispatch(api, name, version, label, body, holder)

    def _dispatch(self, api: str, name: str, version: int | None, label: str | None,
                  body: bytes | None, holder: dict[str, Any]) -> str:
        service = self.state.service
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


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, with the URI cut short: a client must not be able to
    write 5,000-character lines into the server's log."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):
        return
    request = handler.request
    uri = request.uri or ""
    if len(uri) > _MAX_LOGGED_URI:
        uri = f"{uri[:_MAX_LOGGED_URI]}... ({len(uri)} characters)"
    access_log.log(level, "%d %s %r (%s) %.2fms", status, request.method, uri,
                   request.remote_ip, 1000.0 * request.request_time())


class RestServer:
    """The tornado HTTP server, run on its own thread and event loop."""

    def __init__(self, service: ModelService, host: str, port: int, *, threads: int = 16,
                 max_body_bytes: int = 64 << 20, metrics_path: str | None = None,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="rest")
        self._state = _State(service, self._executor, max_body_bytes, metrics_path, timeout_ms)
        self._ssl_context = ssl_context
        self._host, self._requested_port = host, port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="rest-ioloop", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            app = tornado.web.Application([(r"/.*", ApiHandler, {"state": self._state})],
                                          log_function=_log_request)
            sockets = tornado.netutil.bind_sockets(self._requested_port, self._host)
            self.port = sockets[0].getsockname()[1]
            # Oversized bodies up to 4x the limit are drained and answered 413; a body that
            # has not arrived within the request timeout closes the connection.
            self._server = tornado.httpserver.HTTPServer(
                app, max_body_size=self._state.max_body_bytes * 4, idle_connection_timeout=300,
                body_timeout=self._state.timeout_ms / 1000, ssl_options=self._ssl_context,
            )
            self._server.add_sockets(sockets)
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
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server
        loop.call_soon_threadsafe(server.stop)
        deadline = time.monotonic() + grace
        while self._state.inflight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)

        async def close() -> None:
            await server.close_all_connections()

        fut = asyncio.run_coroutine_threadsafe(close(), loop)
        try:
            fut.result(timeout=max(0.1, deadline - time.monotonic()))
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._executor.shutdown(wait=False)
        self._loop = None
