"""The REST API's own HTTP/1.1 server (serving/http.py), byte for byte over real sockets:
keep-alive and pipelining, chunked bodies, ``Expect: 100-continue``, HTTP/1.0, HEAD, and what
malformed or oversized requests get."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from tests.serving.conftest import digit_images

BODY = json.dumps({"instances": digit_images(1).tolist()}).encode()
PREDICT = b"POST /v1/models/digits/versions/1:predict HTTP/1.1\r\nHost: x\r\n"


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.rest_port), timeout=30)


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict, bytes]:
    """One response from ``sock`` (bytes past it stay in ``buf``)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {bytes(buf)!r}")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    buf[:] = rest[length:]
    return status, headers, rest[:length]


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_pipelined_requests_are_answered_in_order_on_one_connection(server) -> None:
    status_req = b"GET /v1/models/digits/versions/2 HTTP/1.1\r\nHost: x\r\n\r\n"
    predict = PREDICT + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    with _connect(server) as sock:
        sock.sendall(predict + status_req + predict)
        buf = bytearray()
        answers = [_read_response(sock, buf) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 200]
    assert "predictions" in json.loads(answers[0][2])
    assert json.loads(answers[1][2])["model_version_status"][0]["version"] == "2"
    assert answers[0][2] == answers[2][2]


def test_a_chunked_body_is_the_same_request(server) -> None:
    half = len(BODY) // 2
    chunked = (b"%x\r\n" % half + BODY[:half] + b"\r\n"
               + b"%x;ext=1\r\n" % (len(BODY) - half) + BODY[half:] + b"\r\n0\r\n\r\n")
    with _connect(server) as sock:
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
        buf = bytearray()
        plain = _read_response(sock, buf)
        sock.sendall(PREDICT + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
        chunked_answer = _read_response(sock, buf)
    assert chunked_answer[0] == 200
    assert chunked_answer[2] == plain[2]


def test_expect_100_continue_is_answered_before_the_body(server) -> None:
    with _connect(server) as sock:
        sock.sendall(PREDICT + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(BODY))
        buf = bytearray()
        interim = _read_response(sock, buf)
        sock.sendall(BODY)
        final = _read_response(sock, buf)
    assert interim[0] == 100
    assert final[0] == 200


def test_http_1_0_gets_its_answer_and_the_connection_closes(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /v1/models/digits HTTP/1.0\r\n\r\n")
        buf = bytearray()
        status, headers, _ = _read_response(sock, buf)
        assert status == 200
        assert headers.get("connection") == "close"
        assert _closed(sock)


def test_head_and_other_methods_are_405(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"HEAD /v1/models/digits HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"DELETE /v1/models/digits HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        head = _read_response(sock, buf)
        delete = _read_response(sock, buf)
    assert head[0] == 405 and head[2] == b""
    assert delete[0] == 405
    assert json.loads(delete[2])["error"] == ("HTTP method DELETE is not supported: use GET "
                                             "or POST.")


@pytest.mark.parametrize("raw, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /v1/models/digits HTTP/9.9\r\n\r\n", 400),
    (PREDICT + b"Content-Length: -1\r\n\r\n", 400),
    (PREDICT + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (PREDICT + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (PREDICT + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (PREDICT + b"Content-Length: 99999999999\r\n\r\n", 413),
])
def test_malformed_or_huge_requests_get_an_error_and_the_connection_closes(
        server, raw: bytes, status: int) -> None:
    with _connect(server) as sock:
        sock.sendall(raw)
        buf = bytearray()
        answer = _read_response(sock, buf)
        assert answer[0] == status
        assert json.loads(answer[2])["error"]
        assert _closed(sock)


def test_a_body_over_the_limit_is_drained_and_the_connection_kept(server) -> None:
    limit = server.options.max_body_bytes
    big = b"x" * (limit + 1)
    with _connect(server) as sock:
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(big) + big)
        buf = bytearray()
        too_large = _read_response(sock, buf)
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
        after = _read_response(sock, buf)
    assert too_large[0] == 413
    assert f"exceeds the limit of {limit} bytes" in json.loads(too_large[2])["error"]
    assert after[0] == 200


def test_a_client_sending_far_ahead_gets_every_answer(server) -> None:
    """Twice the read-ahead bound of pipelined requests in one go: the server stops reading
    past the bound and reads again after each answer, so none is lost or stuck (the pause
    itself is checked below)."""
    from serving.http import MAX_BUFFERED_BYTES

    predict = PREDICT + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    count = 2 * MAX_BUFFERED_BYTES // len(predict) + 1
    with _connect(server) as sock:
        sock.settimeout(60)
        sender = threading.Thread(target=sock.sendall, args=(predict * count,))
        sender.start()
        buf = bytearray()
        answers = [_read_response(sock, buf)[0] for _ in range(count)]
        sender.join(timeout=60)
    assert answers == [200] * count


def test_reading_pauses_while_a_request_is_answered_and_resumes_after() -> None:
    """The protocol on a recording transport: past MAX_BUFFERED_BYTES sent ahead it asks
    the transport to stop reading, and to read again once the answer is written."""
    import asyncio

    from serving.http import MAX_BUFFERED_BYTES, HttpServer, Response, _Connection

    class Transport:  # stands for asyncio's socket transport
        def __init__(self) -> None:
            self.calls: list[str] = []
            self.written = b""

        def get_extra_info(self, name: str):
            return ("127.0.0.1", 1) if name == "peername" else None

        def pause_reading(self) -> None:
            self.calls.append("pause")

        def resume_reading(self) -> None:
            self.calls.append("resume")

        def write(self, data: bytes) -> None:
            self.written += data

        def close(self) -> None:
            self.calls.append("close")

    async def main() -> Transport:
        release = asyncio.Event()

        async def handler(request):
            await release.wait()
            return Response(200, b"{}")

        conn = _Connection(HttpServer(handler, max_body_bytes=1 << 20, body_timeout=30))
        transport = Transport()
        conn.connection_made(transport)
        request = b"GET /v1/models/x HTTP/1.1\r\nHost: x\r\n\r\n"
        conn.data_received(request)  # being answered: the handler waits
        await asyncio.sleep(0)
        conn.data_received(request * (MAX_BUFFERED_BYTES // len(request) + 1))
        assert transport.calls == ["pause"]
        release.set()
        for _ in range(100):
            await asyncio.sleep(0)
        return transport

    transport = asyncio.run(main())
    assert transport.calls[:2] == ["pause", "resume"]
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")
