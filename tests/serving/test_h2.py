"""The gRPC port's own HTTP/2 transport (serving/h2.py), frame by frame, on a real server.

A raw HTTP/2 client (a socket and hpack) sends what grpcio's client never would: split and
padded frames, a tiny flow-control window, compressed messages, wrong headers, malformed
frames. Each case checks the frames that come back, and that the server still answers a
normal grpcio call afterwards.
"""

from __future__ import annotations

import gzip
import socket
import struct
import time
import zlib
from pathlib import Path

import grpc
import hpack
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import h2, tensors
from tests.serving.conftest import digit_images, saved_model_call

PREDICT = "/tensorflow.serving.PredictionService/Predict"
GRPC_HEADERS = [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"),
                ("content-type", "application/grpc"), ("te", "trailers")]
SMALL_LIMIT = 4096  # the second server's grpc_max_message_bytes


@pytest.fixture(scope="module")
def small_server(serving_root: Path):
    """A server whose gRPC message limit is SMALL_LIMIT bytes."""
    from serving.server import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(
        grpc_port=0, rest_port=None, model_config_file=str(serving_root / "models.config"),
        poll_seconds=0, grpc_max_message_bytes=SMALL_LIMIT)).start()
    yield srv
    srv.stop()


class RawClient:
    """One HTTP/2 connection, driven frame by frame."""

    def __init__(self, port: int, settings: dict[int, int] | None = None,
                 preface: bytes = h2.PREFACE) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.encoder, self.decoder = hpack.Encoder(), hpack.Decoder()
        self.buf = b""
        payload = b"".join(struct.pack(">HI", k, v) for k, v in (settings or {}).items())
        self.sock.sendall(preface + h2.frame(h2.SETTINGS, 0, 0, payload))

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def headers(self, stream: int, path: str = PREDICT, extra=(), replace=None,
                end_stream: bool = False) -> bytes:
        fields = dict(GRPC_HEADERS, **{":path": path}, **(replace or {}))
        block = self.encoder.encode([(k, v) for k, v in fields.items() if v is not None]
                                    + list(extra))
        return h2.frame(h2.HEADERS, h2.END_HEADERS | (h2.END_STREAM if end_stream else 0),
                        stream, block)

    def read_frame(self, timeout: float = 10) -> tuple[int, int, int, bytes] | None:
        """(type, flags, stream, payload); None when the server closed the connection."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    head, self.buf = self.buf[:9 + length], self.buf[9 + length:]
                    return (head[3], head[4], int.from_bytes(head[5:9], "big") & h2.MAX_WINDOW,
                            head[9:])
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def response(self, stream: int) -> dict:
        """Reads until ``stream`` ends: headers, DATA payloads, trailers, frames seen."""
        out = {"headers": {}, "data": [], "trailers": {}, "frames": []}
        while True:
            f = self.read_frame()
            assert f is not None, f"connection closed before stream {stream} ended: {out}"
            kind, flags, sid, payload = f
            out["frames"].append((kind, flags, sid, len(payload)))
            if kind == h2.GOAWAY:
                raise AssertionError(f"GOAWAY {payload}")
            if sid != stream:
                continue
            if kind == h2.HEADERS:  # the first block is the headers, a second the trailers
                out["trailers" if out["headers"] else "headers"].update(
                    self.decoder.decode(payload))
            elif kind == h2.DATA:
                out["data"].append(payload)
            elif kind == h2.RST_STREAM:
                out["rst"] = int.from_bytes(payload, "big")
                return out
            if flags & h2.END_STREAM:
                return out

    def goaway(self) -> tuple[int, bytes]:
        """Reads until GOAWAY: (error code, debug text); asserts the connection then closes."""
        while True:
            f = self.read_frame()
            assert f is not None, "closed without GOAWAY"
            if f[0] == h2.GOAWAY:
                code = int.from_bytes(f[3][4:8], "big")
                assert self.read_frame() is None, "connection left open after GOAWAY"
                return code, f[3][8:]

    def close(self) -> None:
        self.sock.close()


def grpc_body(message: bytes, compressed: bool = False) -> bytes:
    return bytes((int(compressed),)) + len(message).to_bytes(4, "big") + message


def _predict_request(n: int = 2) -> tuple[predict_pb2.PredictRequest, np.ndarray]:
    images = digit_images(n, seed=5)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(images))
    return request, images


def _probabilities(data: list[bytes]) -> np.ndarray:
    body = b"".join(data)
    assert body[0] == 0 and int.from_bytes(body[1:5], "big") == len(body) - 5
    response = predict_pb2.PredictResponse.FromString(body[5:])
    return tensors.make_ndarray(response.outputs["probabilities"])


def _still_serves(port: int) -> None:
    request, _ = _predict_request(1)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30)
    assert "probabilities" in response.outputs


@pytest.fixture(scope="module")
def want(exports) -> np.ndarray:
    _, images = _predict_request()
    return saved_model_call(exports["digits_b"], "serving_default", image=images)[
        "probabilities"]


def test_split_padded_frames_and_continuation_make_one_call(server, want) -> None:
    client = RawClient(server.grpc_port)
    request, _ = _predict_request()
    body = grpc_body(request.SerializeToString())
    block = client.encoder.encode(list(dict(GRPC_HEADERS, **{":path": PREDICT}).items()))
    half = len(block) // 2
    padded = bytes((3,)) + body[:7] + b"\0\0\0"
    client.send(h2.frame(h2.HEADERS, 0, 1, block[:half]),
                h2.frame(h2.CONTINUATION, h2.END_HEADERS, 1, block[half:]),
                h2.frame(h2.DATA, h2.PADDED, 1, padded),
                h2.frame(h2.DATA, 0, 1, body[7:20]),
                h2.frame(h2.DATA, h2.END_STREAM, 1, body[20:]))
    out = client.response(1)
    assert out["headers"][":status"] == "200"
    assert out["trailers"]["grpc-status"] == "0", out
    np.testing.assert_allclose(_probabilities(out["data"]), want, rtol=1e-6)
    client.close()


def test_responses_wait_for_the_clients_flow_control_window(server, want) -> None:
    client = RawClient(server.grpc_port, settings={h2.INITIAL_WINDOW_SIZE: 16})
    request, _ = _predict_request()
    client.send(client.headers(1),
                h2.frame(h2.DATA, h2.END_STREAM, 1, grpc_body(request.SerializeToString())))
    received, data = 0, []
    while True:  # only 16 bytes may come until we open the window
        kind, flags, sid, payload = client.read_frame()
        if sid == 1 and kind == h2.DATA:
            data.append(payload)
            received += len(payload)
            if received == 16:
                break
        assert not (sid == 1 and flags & h2.END_STREAM), "the response ignored the window"
    client.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):  # nothing more while the window is closed
        client.sock.recv(1)
    client.send(h2.frame(h2.WINDOW_UPDATE, 0, 1, (1 << 20).to_bytes(4, "big")))
    out = client.response(1)  # the response's headers were read above: this is the trailers
    assert out["headers"] == {"grpc-status": "0"}
    np.testing.assert_allclose(_probabilities(data + out["data"]), want, rtol=1e-6)
    client.close()


@pytest.mark.parametrize("encoding,compress", [("gzip", gzip.compress),
                                               ("deflate", zlib.compress)])
def test_compressed_requests(server, want, encoding, compress) -> None:
    client = RawClient(server.grpc_port)
    request, _ = _predict_request()
    client.send(client.headers(1, extra=[("grpc-encoding", encoding)]),
                h2.frame(h2.DATA, h2.END_STREAM, 1,
                         grpc_body(compress(request.SerializeToString()), compressed=True)))
    out = client.response(1)
    assert out["trailers"]["grpc-status"] == "0", out
    np.testing.assert_allclose(_probabilities(out["data"]), want, rtol=1e-6)
    client.close()


def _valid_body() -> bytes:
    return grpc_body(_predict_request()[0].SerializeToString())


@pytest.mark.parametrize("case,status,code,words", [
    ("wrong content-type", "415", 3, "content-type must be application/grpc"),
    ("GET", "405", 3, "POST"),
    ("unknown method", "200", 12, "Method not found"),
    ("bad grpc-timeout", "200", 3, "grpc-timeout"),
    ("unknown encoding", "200", 12, "grpc-encoding 'br'"),
    ("no message", "200", 3, "exactly one request message"),
    ("two messages", "200", 3, "exactly one request message"),
    ("compressed flag without encoding", "200", 3, "no grpc-encoding"),
    ("undecodable gzip", "200", 3, "does not decompress"),
    ("not a PredictRequest", "200", 3, "Cannot parse the request"),
])
def test_bad_calls_get_clear_answers_and_the_connection_lives(server, case, status, code,
                                                              words) -> None:
    body = _valid_body()
    frames = {
        "wrong content-type": lambda c: [c.headers(1, replace={"content-type": "text/plain"}),
                                         h2.frame(h2.DATA, h2.END_STREAM, 1, body)],
        "GET": lambda c: [c.headers(1, replace={":method": "GET"}, end_stream=True)],
        "unknown method": lambda c: [c.headers(1, path="/tensorflow.serving.X/Y"),
                                     h2.frame(h2.DATA, h2.END_STREAM, 1, body)],
        "bad grpc-timeout": lambda c: [c.headers(1, extra=[("grpc-timeout", "soon")]),
                                       h2.frame(h2.DATA, h2.END_STREAM, 1, body)],
        "unknown encoding": lambda c: [c.headers(1, extra=[("grpc-encoding", "br")]),
                                       h2.frame(h2.DATA, h2.END_STREAM, 1, body)],
        "no message": lambda c: [c.headers(1, end_stream=True)],
        "two messages": lambda c: [c.headers(1),
                                   h2.frame(h2.DATA, h2.END_STREAM, 1, body + body)],
        "compressed flag without encoding": lambda c: [
            c.headers(1), h2.frame(h2.DATA, h2.END_STREAM, 1, b"\x01" + body[1:])],
        "undecodable gzip": lambda c: [
            c.headers(1, extra=[("grpc-encoding", "gzip")]),
            h2.frame(h2.DATA, h2.END_STREAM, 1, grpc_body(b"not gzip", compressed=True))],
        "not a PredictRequest": lambda c: [
            c.headers(1), h2.frame(h2.DATA, h2.END_STREAM, 1, grpc_body(b"\xff\xff\xff"))],
    }[case]
    client = RawClient(server.grpc_port)
    client.send(*frames(client))
    out = client.response(1)
    fields = {**out["headers"], **out["trailers"]}
    assert fields[":status"] == status, out
    assert fields["grpc-status"] == str(code), out
    assert words in h2_unquote(fields["grpc-message"]), fields
    if case == "unknown encoding":
        assert "gzip" in fields["grpc-accept-encoding"]
    # the same connection still serves a good call
    client.send(client.headers(3), h2.frame(h2.DATA, h2.END_STREAM, 3, body))
    assert client.response(3)["trailers"]["grpc-status"] == "0"
    client.close()


def h2_unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def test_oversized_messages_are_refused_as_soon_as_their_size_is_known(small_server) -> None:
    client = RawClient(small_server.grpc_port)
    # The prefix announces 1 MB; the rest never comes, and is not waited for.
    client.send(client.headers(1), h2.frame(h2.DATA, 0, 1, b"\0" + (1 << 20).to_bytes(4, "big")))
    out = client.response(1)
    assert out["headers"]["grpc-status"] == "8", out  # RESOURCE_EXHAUSTED
    assert str(SMALL_LIMIT) in h2_unquote(out["headers"]["grpc-message"])
    assert out.get("rst") == h2.NO_ERROR or client.response(1).get("rst") == h2.NO_ERROR
    # a gzip bomb: 100 KB of zeros in a few hundred bytes
    bomb = gzip.compress(bytes(100_000))
    client.send(client.headers(3, extra=[("grpc-encoding", "gzip")]),
                h2.frame(h2.DATA, h2.END_STREAM, 3, grpc_body(bomb, compressed=True)))
    out = client.response(3)
    assert out["headers"]["grpc-status"] == "8", out
    assert "decompressed" in h2_unquote(out["headers"]["grpc-message"])
    client.close()
    _still_serves(small_server.grpc_port)


def test_unfinished_messages_of_one_connection_are_held_to_the_message_limit(
        small_server) -> None:
    request, _ = _predict_request(12)
    body = grpc_body(request.SerializeToString())
    assert 3000 < len(body) <= SMALL_LIMIT
    client = RawClient(small_server.grpc_port)
    client.send(client.headers(1), h2.frame(h2.DATA, 0, 1, body[:3000]),
                client.headers(3), h2.frame(h2.DATA, 0, 3, body[:3000]))
    out = client.response(3)  # 6,000 unfinished bytes on the connection: over 4,096
    assert out["headers"]["grpc-status"] == "8", out
    assert "unfinished" in h2_unquote(out["headers"]["grpc-message"])
    client.send(h2.frame(h2.DATA, h2.END_STREAM, 1, body[3000:]))  # the first call finishes
    out = client.response(1)
    assert out["trailers"]["grpc-status"] == "0", out
    # its bytes no longer count: the same call again fits
    client.send(client.headers(5), h2.frame(h2.DATA, h2.END_STREAM, 5, body))
    assert client.response(5)["trailers"]["grpc-status"] == "0"
    client.close()


def test_ping_is_answered_and_reset_calls_leave_the_connection_usable(server) -> None:
    client = RawClient(server.grpc_port)
    client.send(h2.frame(h2.PING, 0, 0, b"12345678"))
    while True:
        kind, flags, _, payload = client.read_frame()
        if kind == h2.PING:
            assert flags & h2.ACK and payload == b"12345678"
            break
    body = _valid_body()
    client.send(client.headers(1), h2.frame(h2.DATA, 0, 1, body[:10]),
                h2.frame(h2.RST_STREAM, 0, 1, h2.CANCEL.to_bytes(4, "big")),
                h2.frame(h2.DATA, h2.END_STREAM, 1, body[10:]),  # in flight: ignored
                client.headers(3), h2.frame(h2.DATA, h2.END_STREAM, 3, body))
    out = client.response(3)
    assert out["trailers"]["grpc-status"] == "0"
    assert not any(sid == 1 for _, _, sid, _ in out["frames"])
    client.close()


@pytest.mark.parametrize("case,code", [
    ("not HTTP/2", h2.PROTOCOL_ERROR),
    ("even stream", h2.PROTOCOL_ERROR),
    ("frame too large", h2.FRAME_SIZE_ERROR),
    ("bad HPACK", h2.COMPRESSION_ERROR),
    ("header flood", h2.ENHANCE_YOUR_CALM),
    ("interrupted header block", h2.PROTOCOL_ERROR),
    ("DATA on an idle stream", h2.PROTOCOL_ERROR),
    ("zero window increment", h2.PROTOCOL_ERROR),
])
def test_protocol_errors_end_the_connection_with_goaway(server, case, code) -> None:
    if case == "not HTTP/2":
        client = RawClient(server.grpc_port, preface=b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
    else:
        client = RawClient(server.grpc_port)
        chunk = bytes(16000)
        client.send(*{
            "even stream": lambda: [client.headers(2, end_stream=True)],
            "frame too large": lambda: [h2.frame(h2.DATA, 0, 1, bytes(h2.MAX_FRAME + 1))],
            "bad HPACK": lambda: [h2.frame(h2.HEADERS, h2.END_HEADERS, 1, b"\xff\xff\xff\xff")],
            "header flood": lambda: [h2.frame(h2.HEADERS, 0, 1, chunk)] + [
                h2.frame(h2.CONTINUATION, 0, 1, chunk) for _ in range(6)],
            "interrupted header block": lambda: [
                h2.frame(h2.HEADERS, 0, 1, b"\x82"), h2.frame(h2.PING, 0, 0, bytes(8))],
            "DATA on an idle stream": lambda: [h2.frame(h2.DATA, 0, 7, b"x")],
            "zero window increment": lambda: [h2.frame(h2.WINDOW_UPDATE, 0, 0, bytes(4))],
        }[case]())
    got, reason = client.goaway()
    assert got == code, (case, got, reason)
    assert reason, "GOAWAY without a reason"
    client.close()
    _still_serves(server.grpc_port)


def test_clients_that_never_send_a_preface_are_closed(server, monkeypatch) -> None:
    monkeypatch.setattr(h2, "PREFACE_TIMEOUT", 0.3)
    sock = socket.create_connection(("127.0.0.1", server.grpc_port), timeout=10)
    started = time.monotonic()
    while sock.recv(65536):  # the server's SETTINGS, then the close
        pass
    assert time.monotonic() - started < 5
    sock.close()


def test_grpc_message_and_timeout_encodings() -> None:
    assert h2.encode_message("50% off: é\n") == b"50%25 off: %C3%A9%0A"
    assert h2.parse_timeout(b"250m") == pytest.approx(0.25)
    assert h2.parse_timeout(b"2S") == 2.0 and h2.parse_timeout(b"1H") == 3600.0
    for bad in (b"", b"1", b"123456789S", b"1s", b"-1S"):
        with pytest.raises(ValueError, match="grpc-timeout"):
            h2.parse_timeout(bad)


def test_remembered_header_blocks_decode_as_hpack_does() -> None:
    """Header blocks are remembered only while HPACK's table stays the same: a random mix
    of fresh blocks (indexed, not indexed, table resizes) and replays of earlier blocks
    decodes exactly as a plain hpack decoder fed the same bytes."""
    import random

    rng = random.Random(3)
    connection = h2._Connection(h2.GrpcH2Server(None, max_message_bytes=1 << 20))
    reference = hpack.Decoder(max_header_list_size=h2.MAX_HEADER_LIST_BYTES)
    encoder = hpack.Encoder()
    paths = [PREDICT, "/tensorflow.serving.PredictionService/Classify",
             "/tensorflow.serving.ModelService/GetModelStatus"]
    sent: list[bytes] = []
    replays = 0
    for _ in range(3000):
        if sent and rng.random() < 0.5:
            block = rng.choice(sent[-8:])
            replays += 1
        else:
            fields = [(":method", "POST"), (":path", rng.choice(paths)),
                      ("content-type", "application/grpc")]
            if rng.random() < 0.5:
                fields.append(("grpc-timeout", f"{rng.randrange(1, 50)}m"))
            if rng.random() < 0.2:  # never indexed
                fields.append(hpack.NeverIndexedHeaderTuple("authorization", str(rng.random())))
            if rng.random() < 0.05:
                encoder.header_table_size = rng.choice([0, 256, 4096])
            block = encoder.encode(fields)
            sent.append(block)
        try:
            want = tuple(reference.decode(block, raw=True))
        except hpack.exceptions.HPACKError:
            with pytest.raises(h2._ConnectionError):
                connection._decode(block)
            reference = hpack.Decoder(max_header_list_size=h2.MAX_HEADER_LIST_BYTES)
            connection = h2._Connection(h2.GrpcH2Server(None, max_message_bytes=1 << 20))
            encoder, sent = hpack.Encoder(), []
            continue
        assert tuple(tuple(f) for f in connection._decode(block)) == \
            tuple(tuple(f) for f in want)
    assert replays > 1000 and connection._header_cache


def test_random_frames_never_break_the_server(server, caplog) -> None:
    """Mutated frame sequences (flipped bytes, cut frames, wrong lengths, shuffled frames)
    from valid calls, 8 connections at a time: nothing the server logs as an error (an
    exception escaping the protocol or a call), and the server still serves."""
    import concurrent.futures
    import logging
    import random

    rng = random.Random(7)
    body = _valid_body()
    encoder = hpack.Encoder()  # every case's first header block: the same, fresh table
    block = encoder.encode(list(dict(GRPC_HEADERS, **{":path": PREDICT}).items())
                           + [("grpc-timeout", "5S")])
    valid = [h2.frame(h2.HEADERS, h2.END_HEADERS, 1, block),
             h2.frame(h2.DATA, 0, 1, body[:11]),
             h2.frame(h2.DATA, h2.END_STREAM, 1, body[11:]),
             h2.frame(h2.WINDOW_UPDATE, 0, 0, (1000).to_bytes(4, "big")),
             h2.frame(h2.PING, 0, 0, bytes(8)),
             h2.frame(h2.SETTINGS, 0, 0, struct.pack(">HI", h2.INITIAL_WINDOW_SIZE, 7))]

    def mutated() -> list[bytes]:
        frames = list(valid)
        mutation = rng.randrange(5)
        if mutation == 0:  # flip bytes anywhere
            data = bytearray(b"".join(frames))
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            frames = [bytes(data)]
        elif mutation == 1:  # shuffle the frames
            rng.shuffle(frames)
        elif mutation == 2:  # a frame header with a random length, type, flags, stream
            frames.insert(rng.randrange(len(frames) + 1), rng.randrange(1 << 14).to_bytes(
                3, "big") + bytes((rng.randrange(12), rng.randrange(256)))
                + rng.randrange(1 << 32).to_bytes(4, "big") + bytes(rng.randrange(64)))
        elif mutation == 3:  # cut short
            data = b"".join(frames)
            frames = [data[:rng.randrange(len(data))]]
        else:  # random payload bytes in one frame
            i = rng.randrange(len(frames))
            head = frames[i][:9]
            frames[i] = head + rng.randbytes(int.from_bytes(head[:3], "big"))
        return frames

    def run(frames: list[bytes]) -> None:
        client = RawClient(server.grpc_port)
        try:
            client.send(*frames)
            # until the server closes, or says nothing more for a while (a cut frame waits
            # for its end, as it should)
            while client.read_frame(timeout=0.1) is not None:
                pass
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            client.close()

    caplog.set_level(logging.ERROR)
    cases = [mutated() for _ in range(400)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(run, cases))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records][:5]
    _still_serves(server.grpc_port)
