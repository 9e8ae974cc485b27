"""A small HTTP/1.1 server on asyncio for the REST API.

Only what TF Serving's REST API needs: keep-alive connections, requests answered in order,
bodies framed by ``Content-Length`` or ``Transfer-Encoding: chunked``, ``Expect:
100-continue``, TLS through an ``ssl.SSLContext``. A general framework costs more per
request than the model does (tornado: about 3,000 trivial requests/s per core here; this
loop: over 20,000), so the parsing is done here, in a few lines that are easy to check.

Limits (what a client cannot make the server do):

* a request head (request line and headers) over ``MAX_HEAD_BYTES``: 431, connection closed;
* a malformed request line, header, length or chunk: 400, connection closed;
* a body over ``max_body_bytes`` is drained (up to 4x the limit) and answered 413; past
  4x the connection is closed after the 413;
* a body that has not arrived ``body_timeout`` seconds after its head: connection closed;
* a connection idle for ``idle_timeout`` seconds between requests: closed;
* bytes sent ahead while a request is answered: read up to ``MAX_BUFFERED_BYTES``, then not
  until the answer is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("dlpipe.serving.http")

MAX_HEAD_BYTES = 64 << 10
MAX_BUFFERED_BYTES = 1 << 20
"""Bytes read ahead (pipelined requests) while a request is answered; then reading pauses."""
_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
            413: "Payload Too Large", 429: "Too Many Requests", 431:
            "Request Header Fields Too Large", 499: "Client Closed Request",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
            504: "Gateway Timeout"}


@dataclasses.dataclass
class Request:
    """One parsed request."""

    method: str
    target: str  # as sent (path and query)
    path: str  # the target without its query, not percent-decoded
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    remote_ip: str
    started: float  # time.perf_counter() when the head was complete
    body_size: int = 0  # bytes received (more than len(body) when the body was dropped)


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


Handler = Callable[[Request], Awaitable[Response]]
"""Answers a request (a body over the limit arrives empty with ``body_size`` set)."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_body(message: str) -> bytes:
    import json

    return ('{ "error": ' + json.dumps(message) + " }").encode()


class _Connection(asyncio.Protocol):
    """One client connection: parses requests from the byte stream, answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.remote_ip = ""
        self.busy = False  # a request is being answered; later bytes wait in buf
        self.paused = False  # reading paused: too many bytes wait in buf
        self.closing = False
        self.last_active = time.monotonic()
        self.body_deadline = 0.0
        # The request being read: None while reading a head.
        self.head: tuple[str, str, str, dict[str, str]] | None = None
        self.started = 0.0
        self.length = 0  # Content-Length, or -1 for chunked
        self.received = 0
        self.dropping = False  # the body is over the limit: counted, not kept
        self.chunks: list[bytes] = []
        self.chunk_left = 0  # chunked: payload bytes left in the current chunk
        self.chunk_state = "size"  # chunked: reading a size line, data, its CRLF, trailers

    # ----- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.remote_ip = peer[0] if peer else ""
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self.closing:
            return
        self.buf += data
        if not self.busy:
            self._process()
        elif len(self.buf) > MAX_BUFFERED_BYTES and not self.paused:
            # Pipelined requests wait while one is answered: stop reading until then.
            self.transport.pause_reading()
            self.paused = True

    # ----- parsing ---------------------------------------------------------------------
    def _process(self) -> None:
        try:
            while not self.busy and not self.closing:
                if self.head is None:
                    if not self._read_head():
                        return
                if not self._read_body():
                    return
        except _BadRequest as e:
            self._fail(e.status, e.message)

    def _read_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD_BYTES:
                raise _BadRequest(431, "Request headers are too large")
            return False
        if end > MAX_HEAD_BYTES:
            raise _BadRequest(431, "Request headers are too large")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end + 4]
        while head.startswith("\r\n"):  # tolerated blank lines between requests
            head = head[2:]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
            raise _BadRequest(400, "Malformed HTTP request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(400, f"Unsupported HTTP version: {version[:20]}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name:
                raise _BadRequest(400, "Malformed HTTP header line")
            key = name.lower()
            value = value.strip()
            if key in headers:
                if key in ("content-length", "transfer-encoding", "host"):
                    raise _BadRequest(400, f"Repeated {name} header")
                headers[key] += "," + value
            else:
                headers[key] = value
        self.head = (method.upper(), target, version, headers)
        self.started = time.perf_counter()
        self.body_deadline = time.monotonic() + self.server.body_timeout
        self.received = 0
        self.chunks = []
        self.dropping = False
        te = headers.get("transfer-encoding")
        if te is not None:
            if te.lower() != "chunked" or "content-length" in headers:
                raise _BadRequest(400, f"Unsupported Transfer-Encoding: {te[:40]}")
            self.length = -1
            self.chunk_left = 0
            self.chunk_state = "size"
        else:
            text = headers.get("content-length", "0")
            if not text.isdigit() or len(text) > 18:
                raise _BadRequest(400, f"Malformed Content-Length: {text[:40]}")
            self.length = int(text)
            if self.length > 4 * self.server.max_body_bytes:
                # Not worth draining: answer and close.
                self.received = self.length
                self._respond_too_large(close=True)
                return False
            self.dropping = self.length > self.server.max_body_bytes
        if headers.get("expect", "").lower() == "100-continue" and not self.dropping:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _read_body(self) -> bool:
        """Consumes body bytes; dispatches the request once complete (True)."""
        if self.length >= 0:
            need = self.length - self.received
            take = min(need, len(self.buf))
            if take:
                if not self.dropping:
                    self.chunks.append(bytes(self.buf[:take]))
                del self.buf[:take]
                self.received += take
            if self.received < self.length:
                return False
        elif not self._read_chunks():
            return False
        self._dispatch()
        return True

    def _read_chunks(self) -> bool:
        """Consumes a chunked body; True once its last chunk and trailers are read."""
        while True:
            if self.chunk_state == "data":
                take = min(self.chunk_left, len(self.buf))
                if not take:
                    return False
                payload = bytes(self.buf[:take])
                del self.buf[:take]
                self.chunk_left -= take
                self.received += take
                if self.received > self.server.max_body_bytes:
                    self.dropping = True
                    self.chunks = []
                    if self.received > 4 * self.server.max_body_bytes:
                        self._respond_too_large(close=True)
                        return False
                else:
                    self.chunks.append(payload)
                if not self.chunk_left:
                    self.chunk_state = "crlf"
                continue
            if self.chunk_state == "crlf":
                if len(self.buf) < 2:
                    return False
                if self.buf[:2] != b"\r\n":
                    raise _BadRequest(400, "Malformed chunked body: a chunk does not end "
                                           "with CRLF")
                del self.buf[:2]
                self.chunk_state = "size"
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                if len(self.buf) > 1024:
                    raise _BadRequest(400, "Malformed chunked body: a line is too long")
                return False
            line = bytes(self.buf[:end])
            del self.buf[:end + 2]
            if self.chunk_state == "trailer":
                if not line:
                    return True
                continue
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 15 or not all(
                    c in b"0123456789abcdefABCDEF" for c in size_text):
                raise _BadRequest(400, "Malformed chunk size in chunked body")
            size = int(size_text, 16)
            if size == 0:
                self.chunk_state = "trailer"
            else:
                self.chunk_left = size
                self.chunk_state = "data"

    # ----- answering -------------------------------------------------------------------
    def _dispatch(self) -> None:
        method, target, version, headers = self.head  # type: ignore[misc]
        self.head = None
        request = Request(method, target, target.split("?", 1)[0], version, headers,
                          b"" if self.dropping else b"".join(self.chunks), self.remote_ip,
                          self.started, self.received)
        self.chunks = []
        self.busy = True
        task = asyncio.ensure_future(self._answer(request))
        self.server._tasks.add(task)
        task.add_done_callback(self.server._tasks.discard)

    async def _answer(self, request: Request) -> None:
        try:
            response = await self.server.handler(request)
        except Exception as e:  # a bug: logged where its traceback is, answered 500
            log.exception("REST %s %s failed", request.method, request.path[:200])
            response = Response(500, _error_body(f"Internal error: {e}"))
        keep_alive = self._keep_alive(request)
        self._write(request, response, keep_alive)
        self.busy = False
        self.last_active = time.monotonic()
        if not keep_alive:
            self._close()
            return
        if self.paused and not self.closing:
            self.paused = False
            self.transport.resume_reading()
        if self.buf and not self.closing:
            self._process()

    @staticmethod
    def _keep_alive(request: Request) -> bool:
        connection = request.headers.get("connection", "").lower()
        if request.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def _write(self, request: Request | None, response: Response, keep_alive: bool) -> None:
        if self.closing or self.transport is None:
            return
        body = b"" if request is not None and request.method == "HEAD" else response.body
        head = (f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                + ("" if keep_alive else "Connection: close\r\n") + "\r\n")
        self.transport.write(head.encode("latin-1") + body)
        if request is not None:
            self.server.log_request(request, response.status)

    def _respond_too_large(self, close: bool) -> None:
        self.head = None
        limit = self.server.max_body_bytes
        response = Response(413, _error_body(
            f"Request body of {self.received} bytes exceeds the limit of {limit} bytes "
            "(--max_request_bytes)"))
        self._write(None, response, keep_alive=not close)
        if close:
            self._close()

    def _fail(self, status: int, message: str) -> None:
        self.head = None
        self._write(None, Response(status, _error_body(message)), keep_alive=False)
        self._close()

    def _close(self) -> None:
        self.closing = True
        self.buf.clear()
        if self.transport is not None:
            self.transport.close()

    def check_timeouts(self, now: float) -> None:
        if self.busy or self.closing:
            return
        if self.head is not None and now > self.body_deadline:
            self._close()  # the body did not arrive in time
        elif self.head is None and now - self.last_active > self.server.idle_timeout:
            self._close()


class HttpServer:
    """Serves ``handler`` on ``host:port`` (0: a free port) from the running event loop.

    Args:
      handler: Answers each request.
      max_body_bytes: Largest body passed to the handler.
      body_timeout: Seconds a body may take to arrive after its head.
      idle_timeout: Seconds a keep-alive connection may wait for its next request.
      ssl_context: Serve HTTPS only.
      reuse_port: Bind with SO_REUSEPORT (several worker processes share the port).
      access_log: Called with (request, status) after each answer.
    """

    def __init__(self, handler: Handler, *, max_body_bytes: int, body_timeout: float,
                 idle_timeout: float = 300.0, ssl_context: ssl.SSLContext | None = None,
                 access_log: Callable[[Request, int], None] | None = None) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.ssl_context = ssl_context
        self._access_log = access_log
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Future] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def log_request(self, request: Request, status: int) -> None:
        if self._access_log is not None:
            self._access_log(request, status)

    async def start(self, host: str, port: int, reuse_port: bool = False) -> int:
        """Binds and starts serving; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, ssl=self.ssl_context, reuse_port=reuse_port,
            backlog=1024)
        self._sweep()
        return self._server.sockets[0].getsockname()[1]

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self._connections):
            conn.check_timeouts(now)
        self._sweeper = asyncio.get_running_loop().call_later(1.0, self._sweep)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def close_connections(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self._connections):
            conn._close()
