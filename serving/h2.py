"""gRPC's unary calls over HTTP/2 on asyncio: the transport of ``dlpipe serve``'s gRPC port.

grpcio's own asyncio server spends 170-195 µs of CPU per call on a 2-core VM with a handler
that does nothing; TF Serving's whole API is unary calls, which need only a small part of
HTTP/2. This module does that part in one ``asyncio.Protocol`` per connection, as
:mod:`serving.http` does for REST: 42-71 µs per call under the same load
(``bench/grpc_transport.py``). Header blocks are decoded and encoded with ``hpack``.

What is implemented (RFC 9113 and gRPC's "PROTOCOL-HTTP2"):

* the connection preface, SETTINGS (with ACK), PING (answered), GOAWAY (both ways),
  RST_STREAM, WINDOW_UPDATE, PRIORITY (ignored), HEADERS and CONTINUATION, DATA with
  padding; unknown frame types are ignored, as the RFC says;
* flow control both ways: the client's windows hold back response DATA until it opens them
  again; ours are opened as request bytes arrive (every request byte is bounded by the
  message size limit, so the windows only pace the client);
* gRPC's request headers (``:method POST``, ``content-type: application/grpc...``,
  ``grpc-timeout``, ``grpc-encoding`` identity, gzip or deflate), its length-prefixed messages
  (exactly one per unary call, at most ``max_message_bytes``), responses with status and
  percent-encoded message trailers, and trailers-only error answers;
* TLS through an ``ssl.SSLContext`` offering ALPN ``h2``.

Limits (what a client cannot make the server do): more than ``MAX_STREAMS`` calls at once
on one connection (REFUSED_STREAM, which clients retry); a header block over
``MAX_HEADER_BLOCK_BYTES`` (GOAWAY ENHANCE_YOUR_CALM); a message, compressed or not, over
``max_message_bytes`` (RESOURCE_EXHAUSTED, answered as soon as its length is known), or
unfinished messages on one connection adding up to more than that (RESOURCE_EXHAUSTED for
the call whose bytes went over, so that 1,000 streams cannot hold 1,000 messages); no
preface within ``PREFACE_TIMEOUT`` seconds (closed); over ``MAX_WRITE_BUFFER_BYTES`` of
answers it does not read (closed). A malformed frame is a connection error (GOAWAY with
the RFC's code and a reason), a malformed request a stream error; neither reaches a handler.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import struct
import time
import zlib
from collections.abc import Awaitable, Callable

import hpack
import hpack.exceptions

from serving.errors import Code

log = logging.getLogger("dlpipe.serving.h2")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_STREAMS = 1000
"""Concurrent calls per connection (SETTINGS_MAX_CONCURRENT_STREAMS)."""
STREAM_WINDOW = 1 << 20
"""Request bytes a client may send on a call before it waits for us (per stream)."""
CONNECTION_WINDOW = 16 << 20
MAX_HEADER_LIST_BYTES = 16 << 10
"""Decoded request headers (SETTINGS_MAX_HEADER_LIST_SIZE; gRPC's default is 8 KiB)."""
MAX_HEADER_BLOCK_BYTES = 64 << 10
"""Encoded header block, CONTINUATION frames included."""
MAX_WRITE_BUFFER_BYTES = 32 << 20
PREFACE_TIMEOUT = 10.0
MAX_FRAME = 16384  # ours (the RFC's default) and the client's until it says otherwise

# frame types and flags
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, \
    CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)
# settings
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)
MAX_WINDOW = (1 << 31) - 1

_TIMEOUT = re.compile(rb"^(\d{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
_ENCODINGS = {b"identity", b"gzip", b"deflate"}
ACCEPT_ENCODING = b"identity,deflate,gzip"

Handler = Callable[[str, bytes, "float | None"], Awaitable[tuple[Code, str, bytes]]]
"""(method path, request message, client's timeout in s or None) -> (code, message, response)."""


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (len(payload).to_bytes(3, "big") + bytes((kind, flags))
            + stream_id.to_bytes(4, "big") + payload)


def parse_timeout(value: bytes) -> float:
    """``grpc-timeout`` (e.g. ``100m``) in seconds; ValueError when malformed."""
    match = _TIMEOUT.match(value)
    if match is None:
        raise ValueError(
            f"grpc-timeout must be 1-8 digits and a unit (H, M, S, m, u, n). Received: "
            f"{value[:40].decode('latin-1')!r}")
    return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]


def encode_message(text: str) -> bytes:
    """``grpc-message``: UTF-8, percent-encoding what is not printable ASCII (and ``%``)."""
    out = bytearray()
    for b in text.encode("utf-8"):
        if 0x20 <= b <= 0x7E and b != 0x25:
            out.append(b)
        else:
            out += b"%%%02X" % b
    return bytes(out)


class _ConnectionError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Stream:
    __slots__ = ("id", "headers", "path", "body", "ended", "answered", "task", "window",
                 "pending", "sent", "timeout", "encoding", "recv_unacked", "trailers_of")

    def __init__(self, stream_id: int, window: int) -> None:
        self.id = stream_id
        self.headers = b""  # the header block while CONTINUATION frames arrive
        self.path = ""
        self.body = bytearray()
        self.ended = False  # the client sent END_STREAM
        self.answered = False  # our response is written (or queued behind flow control)
        self.task: asyncio.Task | None = None
        self.window = window  # bytes of DATA we may still send
        self.pending: bytes | None = None  # the response's DATA payload, while not all sent
        self.sent = 0  # bytes of ``pending`` written
        self.timeout: float | None = None
        self.encoding = b"identity"
        self.recv_unacked = 0
        # A header block on a stream already open (the client's trailers) or closed: decoded
        # only to keep HPACK's table in step. The open stream it ends, or None.
        self.trailers_of: _Stream | None | bool = False


class _Connection(asyncio.Protocol):
    def __init__(self, server: GrpcH2Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._preface = False
        self._decoder = hpack.Decoder(max_header_list_size=MAX_HEADER_LIST_BYTES)
        self._decoder.max_allowed_table_size = 4096
        self._encoder = hpack.Encoder()
        self._header_cache: dict[bytes, tuple[tuple[bytes, bytes], ...]] = {}
        self._streams: dict[int, _Stream] = {}
        self._last_stream = 0  # highest stream id the client opened
        self._continuing: _Stream | None = None  # a header block waiting for CONTINUATION
        self._continuing_end = False
        self._send_window = 65535  # connection-level, for our DATA
        self._initial_window = 65535  # the client's SETTINGS_INITIAL_WINDOW_SIZE
        self._max_frame = MAX_FRAME  # the client's SETTINGS_MAX_FRAME_SIZE
        self._recv_unacked = 0
        self._buffered = 0  # bytes of request messages received and not yet handed on
        self._paused = False
        self._going_away = False
        self._closed = False
        self._preface_timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server._connections.add(self)
        settings = struct.pack(">HIHIHIHI", MAX_CONCURRENT_STREAMS, MAX_STREAMS,
                               INITIAL_WINDOW_SIZE, STREAM_WINDOW, MAX_HEADER_LIST_SIZE,
                               MAX_HEADER_LIST_BYTES, ENABLE_PUSH, 0)
        self.transport.write(frame(SETTINGS, 0, 0, settings) + frame(
            WINDOW_UPDATE, 0, 0, (CONNECTION_WINDOW - 65535).to_bytes(4, "big")))
        self._preface_timer = asyncio.get_running_loop().call_later(
            PREFACE_TIMEOUT, self._preface_late)
        if self.server.going_away:
            self.go_away()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.server._connections.discard(self)
        if self._preface_timer is not None:
            self._preface_timer.cancel()
        self._drop_streams()

    def _drop_streams(self) -> None:
        """Forgets every stream, cancelling the calls still running."""
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self._streams.clear()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._flush_all()

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        self._buf += data
        try:
            self._process()
        except _ConnectionError as e:
            self._fail(e.code, e.reason)

    # --- frames in

    def _preface_late(self) -> None:
        if not self._preface and not self._closed:
            self._close()

    def _process(self) -> None:
        buf = self._buf
        if not self._preface:
            if len(buf) < len(PREFACE):
                if not PREFACE.startswith(bytes(buf)):
                    raise _ConnectionError(PROTOCOL_ERROR, "not an HTTP/2 connection preface "
                                           "(gRPC needs HTTP/2)")
                return
            if bytes(buf[:len(PREFACE)]) != PREFACE:
                raise _ConnectionError(PROTOCOL_ERROR, "not an HTTP/2 connection preface "
                                       "(gRPC needs HTTP/2)")
            del buf[:len(PREFACE)]
            self._preface = True
            self._preface_timer.cancel()
        pos, n = 0, len(buf)
        try:
            while n - pos >= 9 and not self._closed:
                length = int.from_bytes(buf[pos:pos + 3], "big")
                if length > MAX_FRAME:
                    raise _ConnectionError(FRAME_SIZE_ERROR,
                                           f"frame of {length} bytes (limit {MAX_FRAME})")
                if n - pos - 9 < length:
                    break
                kind, flags = buf[pos + 3], buf[pos + 4]
                stream_id = int.from_bytes(buf[pos + 5:pos + 9], "big") & MAX_WINDOW
                payload = bytes(buf[pos + 9:pos + 9 + length])
                pos += 9 + length
                self._frame(kind, flags, stream_id, payload)
        finally:
            del buf[:pos]

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._continuing is not None and kind != CONTINUATION:
            raise _ConnectionError(PROTOCOL_ERROR, "a header block was interrupted by another "
                                   "frame before END_HEADERS")
        if kind == HEADERS:
            self._headers(flags, stream_id, payload)
        elif kind == DATA:
            self._data(flags, stream_id, payload)
        elif kind == CONTINUATION:
            stream = self._continuing
            if stream is None or stream.id != stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, "CONTINUATION without a header block")
            stream.headers += payload
            if len(stream.headers) > MAX_HEADER_BLOCK_BYTES:
                raise _ConnectionError(ENHANCE_YOUR_CALM, "header block over "
                                       f"{MAX_HEADER_BLOCK_BYTES} bytes")
            if flags & END_HEADERS:
                self._continuing = None
                self._header_block(stream, self._continuing_end)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == PING:
            if stream_id != 0 or len(payload) != 8:
                raise _ConnectionError(FRAME_SIZE_ERROR if len(payload) != 8 else
                                       PROTOCOL_ERROR, "malformed PING")
            if not flags & ACK:
                self._write(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise _ConnectionError(PROTOCOL_ERROR, "malformed RST_STREAM")
            self._check_not_idle(stream_id, "RST_STREAM")
            stream = self._streams.pop(stream_id, None)
            if stream is not None:
                self._take_body(stream)
                if stream.task is not None:
                    stream.task.cancel()
        elif kind == PRIORITY:
            if stream_id == 0 or len(payload) != 5:
                raise _ConnectionError(PROTOCOL_ERROR, "malformed PRIORITY")
        elif kind == GOAWAY:
            if stream_id != 0 or len(payload) < 8:
                raise _ConnectionError(PROTOCOL_ERROR, "malformed GOAWAY")
            self._going_away = True
            self._close_if_done()
        elif kind == PUSH_PROMISE:
            raise _ConnectionError(PROTOCOL_ERROR, "clients cannot push")
        # other types: ignored (RFC 9113, 5.5)

    def _check_not_idle(self, stream_id: int, what: str) -> None:
        if stream_id > self._last_stream:
            raise _ConnectionError(PROTOCOL_ERROR, f"{what} on stream {stream_id}, "
                                   "which was never opened")

    @staticmethod
    def _unpad(flags: int, payload: bytes, what: str) -> bytes:
        if flags & PADDED:
            if not payload or payload[0] >= len(payload):
                raise _ConnectionError(PROTOCOL_ERROR, f"{what} padding longer than the frame")
            return payload[1:len(payload) - payload[0]]
        return payload

    def _headers(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0 or stream_id % 2 == 0:
            raise _ConnectionError(PROTOCOL_ERROR, f"HEADERS on stream {stream_id} (clients "
                                   "open odd-numbered streams)")
        block = self._unpad(flags, payload, "HEADERS")
        if flags & PRIORITY_FLAG:
            if len(block) < 5:
                raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            block = block[5:]
        if stream_id > self._last_stream:
            self._last_stream = stream_id
            stream = _Stream(stream_id, self._initial_window)
        else:
            existing = self._streams.get(stream_id)
            if existing is not None and (existing.ended or not flags & END_STREAM):
                raise _ConnectionError(PROTOCOL_ERROR, "a second header block on a stream "
                                       "must end it")
            stream = _Stream(stream_id, 0)
            stream.trailers_of = existing
        stream.headers = block
        if len(block) > MAX_HEADER_BLOCK_BYTES:
            raise _ConnectionError(ENHANCE_YOUR_CALM, "header block over "
                                   f"{MAX_HEADER_BLOCK_BYTES} bytes")
        if not flags & END_HEADERS:
            self._continuing, self._continuing_end = stream, bool(flags & END_STREAM)
            return
        self._header_block(stream, bool(flags & END_STREAM))

    def _table_state(self) -> tuple:
        """What HPACK's dynamic table holds, cheaply: its newest entry (by identity), entry
        count, size and size limit. Only our decoding changes it."""
        table = self._decoder.header_table
        entries = table.dynamic_entries
        return (entries[0] if entries else None, len(entries), table._current_size,
                table._maxsize)

    def _decode(self, block: bytes) -> tuple[tuple[bytes, bytes], ...]:
        """The header block's fields. A client repeats the same few bytes for every call
        (indexed fields, and literals it does not index): while the dynamic table does not
        change, the same bytes decode to the same fields, so those are remembered (this
        halves the cost of a call's headers)."""
        cache = self._header_cache
        fields = cache.get(block)
        if fields is not None:
            return fields
        before = self._table_state()
        try:
            fields = tuple(self._decoder.decode(block, raw=True))
        except hpack.exceptions.OversizedHeaderListError:
            raise _ConnectionError(ENHANCE_YOUR_CALM, "request headers over "
                                   f"{MAX_HEADER_LIST_BYTES} bytes") from None
        except hpack.exceptions.HPACKError as e:
            raise _ConnectionError(COMPRESSION_ERROR, f"bad header block: {e}") from None
        after = self._table_state()
        if after[0] is before[0] and after[1:] == before[1:]:
            if len(cache) < 64 and len(block) <= 2048:
                cache[block] = fields
        else:
            cache.clear()
        return fields

    def _header_block(self, stream: _Stream, end: bool) -> None:
        headers = self._decode(stream.headers)
        stream.headers = b""
        if stream.trailers_of is not False:
            target = stream.trailers_of
            if target is not None and self._streams.get(target.id) is target:
                self._request_ended(target)
            return
        if self._going_away or len(self._streams) >= MAX_STREAMS:
            self._write(frame(RST_STREAM, 0, stream.id, REFUSED_STREAM.to_bytes(4, "big")))
            return
        self._streams[stream.id] = stream
        stream.ended = end
        problem = self._check_request(stream, headers)
        if problem is not None:
            status, code, message = problem
            self._answer_now(stream, code, message, http_status=status)
        elif end:
            self._request_ended(stream)

    def _check_request(self, stream: _Stream, headers: tuple[tuple[bytes, bytes], ...]
                       ) -> tuple[int, Code, str] | None:
        """Reads the request's headers into ``stream``; (HTTP status, code, message) when
        they are not a gRPC call's."""
        method = path = content_type = None
        for name, value in headers:
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b"content-type":
                content_type = value
            elif name == b"grpc-timeout":
                try:
                    stream.timeout = parse_timeout(value)
                except ValueError as e:
                    return 200, Code.INVALID_ARGUMENT, str(e)
            elif name == b"grpc-encoding":
                stream.encoding = value
        stream.path = (path or b"").decode("latin-1")
        if content_type is None or not (content_type == b"application/grpc" or
                                        content_type.startswith((b"application/grpc+",
                                                                 b"application/grpc;"))):
            got = "none" if content_type is None else repr(content_type[:60].decode("latin-1"))
            return 415, Code.INVALID_ARGUMENT, (
                f"content-type must be application/grpc. Received: {got}")
        if method != b"POST":
            got = "none" if method is None else repr(method[:20].decode("latin-1"))
            return 405, Code.INVALID_ARGUMENT, f"gRPC calls are POST requests. Received: {got}"
        if not path or not path.startswith(b"/"):
            return 400, Code.INVALID_ARGUMENT, "a gRPC call needs a :path of /Service/Method"
        if stream.encoding not in _ENCODINGS:
            return 200, Code.UNIMPLEMENTED, (
                f"grpc-encoding {stream.encoding[:40].decode('latin-1')!r} is not supported; "
                f"this server accepts {ACCEPT_ENCODING.decode()}")
        return None

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")
        self._check_not_idle(stream_id, "DATA")
        self._recv_unacked += len(payload)
        if self._recv_unacked >= CONNECTION_WINDOW // 2:
            self._write(frame(WINDOW_UPDATE, 0, 0, self._recv_unacked.to_bytes(4, "big")))
            self._recv_unacked = 0
        stream = self._streams.get(stream_id)
        if stream is None:  # reset, answered early or finished: the bytes are dropped
            return
        if stream.ended:
            raise _ConnectionError(STREAM_CLOSED, f"DATA after END_STREAM on stream {stream_id}")
        data = self._unpad(flags, payload, "DATA")
        if not stream.answered:
            stream.body += data
            self._buffered += len(data)
            limit = self.server.max_message_bytes
            if len(stream.body) >= 5:
                declared = int.from_bytes(stream.body[1:5], "big")
                if declared > limit or len(stream.body) > limit + 5:
                    self._answer_now(stream, Code.RESOURCE_EXHAUSTED, (
                        f"The request message is larger than the server's limit: {declared} "
                        f"bytes > {limit}"))
                elif self._buffered > limit + 5:
                    self._answer_now(stream, Code.RESOURCE_EXHAUSTED, (
                        f"This connection's unfinished request messages together are larger "
                        f"than the server's message limit ({limit} bytes): send them one "
                        f"after another, or on several connections"))
        if flags & END_STREAM:
            self._request_ended(stream)
        elif not stream.answered:
            stream.recv_unacked += len(payload)
            if stream.recv_unacked >= STREAM_WINDOW // 2:
                self._write(frame(WINDOW_UPDATE, 0, stream_id,
                                  stream.recv_unacked.to_bytes(4, "big")))
                stream.recv_unacked = 0

    def _request_ended(self, stream: _Stream) -> None:
        stream.ended = True
        if stream.answered:
            return
        try:
            message = self._message(stream)
        except ValueError as e:
            self._answer_now(stream, Code.INVALID_ARGUMENT, str(e))
            return
        except OverflowError as e:
            self._answer_now(stream, Code.RESOURCE_EXHAUSTED, str(e))
            return
        stream.task = asyncio.get_running_loop().create_task(
            self._call(stream, message))

    def _message(self, stream: _Stream) -> bytes:
        """The request's one message, decompressed."""
        body = self._take_body(stream)
        if len(body) < 5:
            raise ValueError(f"A unary call needs exactly one request message; received "
                             f"{'none' if not body else f'{len(body)} bytes, not a message'}")
        compressed, length = body[0], int.from_bytes(body[1:5], "big")
        if len(body) != 5 + length:
            raise ValueError(f"A unary call needs exactly one request message; received "
                             f"{len(body) - 5} bytes after a {length}-byte message prefix")
        message = bytes(body[5:])
        if compressed == 0:
            return message
        if compressed != 1:
            raise ValueError(f"Bad message flag {compressed} (0: plain, 1: compressed)")
        if stream.encoding == b"identity":
            raise ValueError("The message is flagged compressed but the call has no "
                             "grpc-encoding")
        limit = self.server.max_message_bytes
        wbits = 31 if stream.encoding == b"gzip" else 15
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(message, limit + 1)
        except zlib.error as e:
            raise ValueError(f"The message does not decompress as "
                             f"{stream.encoding.decode()}: {e}") from None
        if len(out) > limit:
            raise OverflowError(f"The decompressed request message is larger than the server's "
                                f"limit of {limit} bytes")
        return out

    def _settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise _ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise _ConnectionError(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise _ConnectionError(FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6")
        for i in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, i)
            if key == INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise _ConnectionError(FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31-1")
                delta, self._initial_window = value - self._initial_window, value
                for stream in self._streams.values():
                    stream.window += delta
            elif key == MAX_FRAME_SIZE:
                if not MAX_FRAME <= value <= (1 << 24) - 1:
                    raise _ConnectionError(PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value} out of range")
                self._max_frame = value
            elif key == HEADER_TABLE_SIZE:
                self._encoder.header_table_size = min(value, 4096)
            elif key == ENABLE_PUSH and value > 1:
                raise _ConnectionError(PROTOCOL_ERROR, "ENABLE_PUSH must be 0 or 1")
        self._write(frame(SETTINGS, ACK, 0))
        self._flush_all()

    def _window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE must be 4 bytes")
        increment = int.from_bytes(payload, "big") & MAX_WINDOW
        if stream_id == 0:
            if increment == 0:
                raise _ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, "connection window over 2^31-1")
            self._flush_all()
            return
        self._check_not_idle(stream_id, "WINDOW_UPDATE")
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if increment == 0 or stream.window + increment > MAX_WINDOW:
            self._reset(stream, PROTOCOL_ERROR if increment == 0 else FLOW_CONTROL_ERROR)
            return
        stream.window += increment
        self._flush(stream)

    # --- calls

    async def _call(self, stream: _Stream, message: bytes) -> None:
        path = stream.path
        try:
            code, text, response = await self.server.handler(path, message, stream.timeout)
        except asyncio.CancelledError:
            return
        except Exception as e:  # a bug in a handler, not a bad request
            log.exception("gRPC call %s failed", path)
            code, text, response = Code.INTERNAL, f"Internal error: {e}", b""
        if self._closed or self._streams.get(stream.id) is not stream:
            return  # reset by the client meanwhile
        stream.task = None
        if code != Code.OK:
            self._answer_now(stream, code, text)
            return
        stream.answered = True
        # Header blocks are encoded in the order they are written (HPACK's table is shared
        # by the connection's streams): the trailers are encoded when the DATA is all out.
        self._write(frame(HEADERS, END_HEADERS, stream.id, self._encoder.encode(
            ((b":status", b"200"), (b"content-type", b"application/grpc")))))
        stream.pending = b"\x00" + len(response).to_bytes(4, "big") + response
        self._flush(stream)

    def _take_body(self, stream: _Stream) -> bytearray:
        """The request bytes received on ``stream``, no longer counted as buffered."""
        body = stream.body
        self._buffered -= len(body)
        stream.body = bytearray()
        return body

    def _answer_now(self, stream: _Stream, code: Code, message: str,
                    http_status: int = 200) -> None:
        """A trailers-only answer (an error, before any response DATA)."""
        stream.answered = True
        self._take_body(stream)
        if stream.task is not None:
            stream.task.cancel()
            stream.task = None
        fields = [(b":status", str(http_status).encode()),
                  (b"content-type", b"application/grpc"),
                  (b"grpc-status", str(int(code)).encode()),
                  (b"grpc-message", encode_message(message)),
                  (b"grpc-accept-encoding", ACCEPT_ENCODING)]
        out = frame(HEADERS, END_HEADERS | END_STREAM, stream.id, self._encoder.encode(fields))
        self._finish(stream, out)

    def _finish(self, stream: _Stream, out: bytes) -> None:
        if not stream.ended:  # answered before the request ended: stop its upload
            out += frame(RST_STREAM, 0, stream.id, NO_ERROR.to_bytes(4, "big"))
            stream.ended = True
        self._streams.pop(stream.id, None)
        self._write(out)
        self._close_if_done()

    def _flush(self, stream: _Stream) -> None:
        """Writes what flow control allows of the stream's response, then its trailers."""
        data = stream.pending
        if data is None or self._paused:
            return
        out = []
        sent, size = stream.sent, len(data)
        view = memoryview(data)
        while sent < size:
            room = min(stream.window, self._send_window, self._max_frame, size - sent)
            if room <= 0:
                break
            out.append(frame(DATA, 0, stream.id, bytes(view[sent:sent + room])))
            stream.window -= room
            self._send_window -= room
            sent += room
        stream.sent = sent
        if sent == size:
            stream.pending = None
            out.append(frame(HEADERS, END_HEADERS | END_STREAM, stream.id,
                             self._encoder.encode(((b"grpc-status", b"0"),))))
            self._finish(stream, b"".join(out))
        elif out:
            self._write(b"".join(out))

    def _flush_all(self) -> None:
        for stream in list(self._streams.values()):
            if stream.pending is not None:
                self._flush(stream)
                if self._send_window <= 0:
                    break

    def _reset(self, stream: _Stream, code: int) -> None:
        self._streams.pop(stream.id, None)
        self._take_body(stream)
        if stream.task is not None:
            stream.task.cancel()
        self._write(frame(RST_STREAM, 0, stream.id, code.to_bytes(4, "big")))

    # --- connection

    def _write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER_BYTES:
            log.warning("Closing a gRPC connection that does not read its answers")
            self._close()

    def go_away(self) -> None:
        """Graceful: the calls already opened finish, new ones are refused."""
        if not self._going_away and not self._closed:
            self._going_away = True
            self._write(frame(GOAWAY, 0, 0, self._last_stream.to_bytes(4, "big")
                              + NO_ERROR.to_bytes(4, "big")))
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self._going_away and not self._streams and not self._closed:
            self._close()

    def _fail(self, code: int, reason: str) -> None:
        log.info("gRPC connection error %d: %s", code, reason)
        self._write(frame(GOAWAY, 0, 0, self._last_stream.to_bytes(4, "big")
                          + code.to_bytes(4, "big") + reason.encode()[:200]))
        if self._closed:
            return
        # Closing a socket with unread bytes sends a TCP reset, which can destroy the GOAWAY
        # before the client reads it: stop reading frames, end our side, close a little later.
        self._closed = True
        self._drop_streams()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(2.0, self.transport.close)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.transport.close()

    @property
    def busy(self) -> bool:
        return bool(self._streams)


class GrpcH2Server:
    """Serves gRPC unary calls with ``handler`` from the running event loop.

    Args:
      handler: Answers each call (see :data:`Handler`).
      max_message_bytes: Largest request message (after decompression).
      ssl_context: Serve TLS only (ALPN ``h2`` is set on it).
    """

    def __init__(self, handler: Handler, *, max_message_bytes: int,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.max_message_bytes = max_message_bytes
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        self.ssl_context = ssl_context
        self._connections: set[_Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self.going_away = False

    async def start(self, sock: socket.socket) -> None:
        """Serves on a bound socket."""
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(self), sock=sock, ssl=self.ssl_context, backlog=1024)

    async def stop(self, grace: float) -> None:
        """Stops accepting, sends GOAWAY, waits up to ``grace`` s for open calls, closes."""
        self.going_away = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.go_away()
        deadline = time.monotonic() + grace
        while any(c.busy for c in self._connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self._connections):
            conn._close()
