"""Malformed requests for the serving fuzz suite and ``bench/fuzz.py``: a recorded corpus
plus seeded generators, no new dependency.

The corpus holds the inputs that once made the server answer 5xx / INTERNAL, grow its memory
or hang (issue 12) and their neighbours. The generators mutate valid requests for the
serving tests' models (``digits``: image float [?,8,8] and a tf.Example ``classify``
signature; ``regress``: x float [?] and a ``regress`` signature; ``multi``: x float [?,3],
n int64 [?], s string [?]) at every level: bytes, JSON structure, values, URLs, raw HTTP,
TensorProto fields, whole protobuf messages. The same seed gives the same cases.

A case is sent with :func:`send_rest` / :func:`send_grpc`, which return what came back as
``(status, message)``; :func:`check_rest` / :func:`check_grpc` say what is wrong with it
(a 5xx, INTERNAL or UNKNOWN, an error without a message, TensorFlow internals in it).
"""

from __future__ import annotations

import dataclasses
import json
import random
import socket
from typing import Any

MODELS = {
    # model -> (signature -> {input: (dtype, shape)}) for the predict generators
    "digits": {"serving_default": {"image": ("float", (None, 8, 8))},
               "edge": {"image": ("float", (None, 8, 8))}},
    "regress": {"serving_default": {"x": ("float", (None,))}},
    "multi": {"serving_default": {"x": ("float", (None, 3)), "n": ("int64", (None,)),
                                  "s": ("string", (None,))}},
}
LEAKS = ("Graph execution error", "{{function_node", "{{node", "[Op:", "Traceback",
         "__inference", "__wrapped__")

# ----- REST ---------------------------------------------------------------------------------


@dataclasses.dataclass
class RestCase:
    method: str
    path: str
    body: bytes | None = None
    raw: bytes | None = None  # a whole HTTP request sent over a socket (malformed HTTP)
    origin: str = ""

    def describe(self) -> str:
        data = (self.raw if self.raw is not None else self.body) or b""
        shown = repr(data[:160]) + (f"... ({len(data)} bytes)" if data and len(data) > 160
                                    else "")
        return f"[{self.origin}] {self.method} {self.path[:160]} {shown}"


def _body(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def rest_corpus() -> list[RestCase]:
    """Requests that once broke the server (issue 12) and their close relatives."""
    p = "/v1/models/digits:predict"
    deep = lambda n: "[" * n + "1" + "]" * n  # noqa: E731
    raw = [
        # 500 on Python's 4,300-digit int() limit, in the body and in the URL
        ("POST", p, '{"instances": [' + "9" * 5000 + "]}"),
        ("POST", p, '{"instances": [-' + "9" * 4301 + "]}"),
        ("POST", p, '{"instances": [[' + "1" * 400 + "]]}"),
        ("POST", p, '{"signature_name": ' + "7" * 5000 + "}"),
        ("POST", "/v1/models/regress:regress", '{"examples": [{"x": ' + "9" * 6000 + "}]}"),
        ("GET", "/v1/models/digits/versions/" + "9" * 5000, None),
        ("POST", "/v1/models/digits/versions/" + "9" * 5000 + ":predict", '{"instances": [1]}'),
        ("GET", "/v1/models/digits/versions/" + "0" * 30 + "1", None),
        ("GET", "/v1/models/digits/versions/99999999999999999999/metadata", None),
        # 500 on numpy's 32-dimension limit
        ("POST", p, '{"instances": ' + deep(33) + "}"),
        ("POST", p, '{"inputs": ' + deep(40) + "}"),
        ("POST", p, '{"instances": ' + deep(985) + "}"),
        ("POST", p, '{"instances": [' + deep(32) + "]}"),
        ("POST", "/v1/models/multi:predict",
         '{"instances": [{"x": ' + deep(34) + ', "n": 1, "s": "a"}]}'),
        ("POST", "/v1/models/digits:classify", '{"examples": [{"image": ' + deep(50) + "}]}"),
        ("POST", p, '{"instances": "' + "[" * 900 + '"}'),
        ("POST", p, "[" * 5000),
        # lone surrogates and invalid UTF-8
        ("POST", "/v1/models/multi:predict",
         '{"instances": [{"x": [1.0, 2.0, 3.0], "n": 1, "s": "\\ud800"}]}'),
        ("POST", "/v1/models/digits:classify", '{"examples": [{"image": "\\udfff"}]}'),
        ("POST", p, b'{"instances": ["\xff\xfe"]}'),
        ("POST", p, b"\xef\xbb\xbf{}"),
        # TensorFlow internals in errors (ParseExample)
        ("POST", "/v1/models/digits:classify",
         '{"signature_name": "classify", "examples": [{"image": [1, 2, 3]}]}'),
        ("POST", "/v1/models/digits:classify",
         '{"signature_name": "classify", "examples": [{"other": 1.5}]}'),
        ("POST", "/v1/models/regress:regress",
         '{"signature_name": "regress", "examples": [{"x": "text"}]}'),
        ("POST", "/v1/models/regress:regress",
         '{"signature_name": "regress", "examples": [{"x": [1.0, 2.0]}]}'),
        ("POST", p, '{"signature_name": "classify", "instances": ["not a tf.Example"]}'),
        ("POST", p, '{"signature_name": "classify", "instances": [{"b64": "AAAA"}]}'),
        # numbers at and past every limit
        ("POST", "/v1/models/regress:predict", '{"instances": [1e999, -1e999, NaN, Infinity]}'),
        ("POST", "/v1/models/regress:predict", '{"instances": [3.5e38, 16777217]}'),
        ("POST", "/v1/models/multi:predict",
         '{"inputs": {"x": [[1, 2, 3]], "n": [9223372036854775808], "s": ["a"]}}'),
        ("POST", "/v1/models/multi:predict",
         '{"inputs": {"x": [[1, 2, 3]], "n": [18446744073709551616], "s": ["a"]}}'),
        ("POST", "/v1/models/regress:regress",
         '{"examples": [{"x": 18446744073709551615}, {"x": -9223372036854775809}]}'),
        # shapes and structure
        ("POST", p, '{"instances": [[]]}'),
        ("POST", p, '{"instances": [[[]]]}'),
        ("POST", p, '{"inputs": []}'),
        ("POST", p, '{"inputs": {}}'),
        ("POST", p, '{"instances": [], "inputs": []}'),
        ("POST", p, "null"),
        ("POST", p, "[]"),
        ("POST", p, ""),
        ("POST", p, '{"instances": null}'),
        ("POST", p, '{"instances": {"b64": "!!"}}'),
        ("POST", "/v1/models/multi:predict", '{"instances": [{"b64": "AAAA"}]}'),
        ("POST", "/v1/models/multi:predict", '{"inputs": {"x": 1, "n": 1, "s": 1}}'),
        ("POST", "/v1/models/multi:predict",
         '{"inputs": {"x": [[1,2,3]], "n": [1], "s": [{"b64": "%%%"}]}}'),
        # URLs
        ("GET", "/v1/models/" + "a" * 20000, None),
        ("GET", "/v1/models/%00", None),
        ("GET", "/v1/models/%ED%A0%80", None),
        ("POST", "/v1/models/digits/labels/" + "x" * 5000 + ":predict", "{}"),
        ("POST", "/v1/models/digits/versions/1/labels/stable:predict", "{}"),
        ("POST", "/v1/models/digits:PREDICT", '{"instances": [1]}'),
        ("GET", "/v1/models", None),
        ("GET", "/v1/models/", None),
        ("GET", "/v1/", None),
        ("DELETE", "/v1/models/digits", None),
        ("PUT", p, "{}"),
        ("GET", "/monitoring/prometheus/metrics/" + "x" * 100, None),
    ]
    cases = []
    for method, path, body in raw:
        data = body.encode() if isinstance(body, str) else body
        cases.append(RestCase(method, path, data, origin="corpus"))
    post = b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
    http = [
        b"GARBAGE\r\n\r\n",
        post + b"Content-Length: 99999999999999999999\r\n\r\n{}",
        post + b"Content-Length: -1\r\n\r\n{}",
        post + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v1/models/digits HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"a" * 70000 + b"\r\n\r\n",
        b"GET /v1/models/digits HTTP/9.9\r\n\r\n",
        b"GET /v1/models/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
    ]
    cases += [RestCase("RAW", "", raw=r, origin="corpus-http") for r in http]
    return cases


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(14 if depth < 3 else 9)
    if kind == 0:
        return rng.choice([0, 1, -1, 16, 2**24, 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 2**64])
    if kind == 1:
        return rng.choice([0.5, -0.0, 1e-45, 3.4e38, 3.5e38, 1.7e308, float("nan"),
                           float("inf"), -float("inf")])
    if kind == 2:
        return rng.choice(["", "a", "\u00b2", "\ud800", "x" * rng.randrange(1, 300), "1.5",
                           "NaN", "null"])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return {"b64": rng.choice(["", "AAAA", "!!!", "QUJD", "=", "a" * 5, 12, None])}
    if kind == 5:
        return rng.uniform(-20, 20)
    if kind == 6:
        return rng.randrange(-5, 20)
    if kind == 7:
        return "9" * rng.choice([19, 20, 309, 310, 4000])
    if kind == 8:
        return []
    if kind in (9, 10):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if kind == 11:
        return {rng.choice(["image", "x", "n", "s", "b64", "", "instances"]):
                _random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    if kind == 12:
        value: Any = 1
        for _ in range(rng.randrange(1, 40)):
            value = [value]
        return value
    return [[_random_value(rng, depth + 2)] * rng.randrange(1, 9)] * rng.randrange(1, 9)


def _valid_value(rng: random.Random, dtype: str, shape: tuple) -> Any:
    dims = [rng.randrange(1, 4) if d is None else d for d in shape]

    def build(level: int) -> Any:
        if level == len(dims):
            if dtype == "float":
                return round(rng.uniform(0, 16), 2)
            if dtype == "int64":
                return rng.randrange(-100, 100)
            return rng.choice(["a", "bc", "\u00e9"])
        return [build(level + 1) for _ in range(dims[level])]

    return build(0)


def _valid_predict(rng: random.Random) -> tuple[str, dict]:
    model = rng.choice(sorted(MODELS))
    signature = rng.choice(sorted(MODELS[model]))
    inputs = MODELS[model][signature]
    batch = rng.randrange(1, 4)
    doc: dict[str, Any] = {}
    if signature != "serving_default" or rng.random() < 0.3:
        doc["signature_name"] = signature
    if rng.random() < 0.5:
        doc["instances"] = [
            {n: _valid_value(rng, dt, shape[1:]) for n, (dt, shape) in inputs.items()}
            if len(inputs) > 1 else _valid_value(rng, *next(iter(inputs.values())))[0]
            for _ in range(batch)]
    else:
        cols = {n: _valid_value(rng, dt, (batch,) + tuple(shape[1:]))
                for n, (dt, shape) in inputs.items()}
        doc["inputs"] = cols if len(cols) > 1 else next(iter(cols.values()))
    return f"/v1/models/{model}:predict", doc


def _valid_examples(rng: random.Random) -> tuple[str, dict]:
    if rng.random() < 0.5:
        return "/v1/models/digits:classify", {
            "signature_name": "classify",
            "examples": [{"image": [float(rng.randrange(17)) for _ in range(64)]}
                         for _ in range(rng.randrange(1, 3))]}
    return "/v1/models/regress:regress", {
        "signature_name": "regress",
        "examples": [{"x": rng.uniform(-5, 5)} for _ in range(rng.randrange(1, 3))]}


def _mutate_doc(rng: random.Random, doc: Any) -> Any:
    """Replaces, deletes or wraps one node of a JSON document."""
    if isinstance(doc, dict) and doc and rng.random() < 0.7:
        key = rng.choice(sorted(doc))
        out = dict(doc)
        action = rng.randrange(4)
        if action == 0:
            del out[key]
        elif action == 1:
            out[key] = _random_value(rng)
        elif action == 2:
            out[rng.choice(["instances", "inputs", "signature_name", "examples", "context",
                            "extra", ""])] = _random_value(rng)
        else:
            out[key] = _mutate_doc(rng, doc[key])
        return out
    if isinstance(doc, list) and doc and rng.random() < 0.8:
        out = list(doc)
        i = rng.randrange(len(out))
        action = rng.randrange(5)
        if action == 0:
            del out[i]
        elif action == 1:
            out[i] = _random_value(rng)
        elif action == 2:
            out.append(_random_value(rng))
        elif action == 3:
            out[i] = [out[i]]
        else:
            out[i] = _mutate_doc(rng, out[i])
        return out
    return _random_value(rng)


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        action = rng.randrange(5)
        i = rng.randrange(len(data) + 1)
        if action == 0 and data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif action == 1:
            del data[i:]
        elif action == 2:
            data[i:i] = rng.choice([b"[", b"]", b"{", b"}", b",", b'"', b"\\u", b"\x00",
                                    b"9" * 4400, b"-", b"e999", b"NaN", b"\xc3"])
        elif action == 3:
            del data[i:i + rng.randrange(1, 20)]
        else:
            j = rng.randrange(len(data) + 1)
            data[i:i] = data[min(i, j):max(i, j)][:2000]
    return bytes(data)


_NAMES = ["digits", "regress", "multi", "", "unknown", "a" * 300, "%2F", "..", "digits%00",
          "\u00e9", "%ED%A0%80", "digits ", "DIGITS"]


def _random_url(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(_NAMES)
    where = rng.choice(["", "", "/versions/1", "/versions/2", "/versions/0", "/versions/-1",
                        "/versions/" + "9" * rng.choice([19, 20, 300, 4400]),
                        "/versions/\u00b2", "/versions/1.0", "/labels/stable",
                        "/labels/canary", "/labels/", "/labels/none", "/labels/" + "l" * 300,
                        "/versions/1/labels/stable"])
    tail = rng.choice([":predict", ":classify", ":regress", ":PrEdIcT", ":", ":foo",
                       "/metadata", "", "/metadata/x", "//"])
    method = "GET" if tail in ("/metadata", "", "/metadata/x", "//") else "POST"
    if rng.random() < 0.1:
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
    return method, f"/v1/models/{name}{where}{tail}"


def rest_cases(seed: int, count: int) -> list[RestCase]:
    """The corpus, then generated cases up to ``count`` in all (same seed, same cases)."""
    rng = random.Random(seed)
    cases = rest_corpus()
    while len(cases) < count:
        kind = rng.randrange(10)
        if kind < 4:  # JSON structure mutations of a valid predict / classify / regress body
            path, doc = _valid_predict(rng) if rng.random() < 0.7 else _valid_examples(rng)
            for _ in range(rng.randrange(1, 3)):
                doc = _mutate_doc(rng, doc)
            body = _body(doc)
            if rng.random() < 0.1:
                n = rng.randrange(30, 60)
                body = body.replace(b"1", b"[" * n + b"1" + b"]" * n, 1)
            cases.append(RestCase("POST", path, body, origin=f"json-mutation/{seed}"))
        elif kind < 7:  # byte mutations of a valid body
            path, doc = _valid_predict(rng) if rng.random() < 0.7 else _valid_examples(rng)
            cases.append(RestCase("POST", path, _mutate_bytes(rng, _body(doc)),
                                  origin=f"byte-mutation/{seed}"))
        elif kind < 9:  # URLs, with a valid or a random body
            method, path = _random_url(rng)
            body = None
            if method in ("POST", "PUT", "PATCH"):
                body = _body(_valid_predict(rng)[1] if rng.random() < 0.5
                             else _random_value(rng))
            cases.append(RestCase(method, path, body, origin=f"url/{seed}"))
        else:  # a random document
            cases.append(RestCase("POST", rng.choice(["/v1/models/digits:predict",
                                                      "/v1/models/multi:predict",
                                                      "/v1/models/regress:regress",
                                                      "/v1/models/digits:classify"]),
                                  _body(_random_value(rng)), origin=f"random-doc/{seed}"))
    return cases


def send_rest(session: Any, base_url: str, case: RestCase, timeout: float) -> tuple[int, str]:
    """Sends a case; returns (HTTP status, error message or body start). A connection the
    server closed without an answer (malformed HTTP, a TLS hello) is status 0."""
    if case.raw is not None:
        host, port = base_url.split("//")[1].split(":")
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            try:
                s.sendall(case.raw)
                s.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            except (ConnectionResetError, BrokenPipeError):
                return 0, "connection closed"
        if not reply:
            return 0, "connection closed"
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
        return status, reply[:300].decode("latin-1")
    resp = session.request(case.method, base_url + case.path, data=case.body, timeout=timeout)
    text = resp.text
    if resp.status_code == 200:
        return 200, text[:200]
    try:
        message = resp.json().get("error", "")
    except ValueError:
        message = text
    return resp.status_code, message if isinstance(message, str) else repr(message)


def check_rest(case: RestCase, status: int, message: str) -> str:
    """What is wrong with an answer ("" if nothing)."""
    if status >= 500:
        return f"HTTP {status}"
    if status not in (0, 200) and case.method != "HEAD" and not message.strip():
        return f"HTTP {status} without an error message"
    leaked = [s for s in LEAKS if s in message]
    if leaked:
        return f"TensorFlow internals in the error ({leaked[0]})"
    return ""


# ----- gRPC ---------------------------------------------------------------------------------
_DTYPES = list(range(0, 24)) + [101, 999, -1]
_VALUE_FIELDS = ["float_val", "double_val", "int_val", "int64_val", "string_val", "bool_val",
                 "half_val", "uint32_val", "uint64_val"]
METHODS = {
    "Predict": ("tensorflow.serving.PredictionService", "predict_pb2", "PredictRequest"),
    "Classify": ("tensorflow.serving.PredictionService", "classification_pb2",
                 "ClassificationRequest"),
    "Regress": ("tensorflow.serving.PredictionService", "regression_pb2", "RegressionRequest"),
    "MultiInference": ("tensorflow.serving.PredictionService", "inference_pb2",
                       "MultiInferenceRequest"),
    "GetModelMetadata": ("tensorflow.serving.PredictionService", "get_model_metadata_pb2",
                         "GetModelMetadataRequest"),
    "GetModelStatus": ("tensorflow.serving.ModelService", "get_model_status_pb2",
                       "GetModelStatusRequest"),
    "HandleReloadConfigRequest": ("tensorflow.serving.ModelService", "model_management_pb2",
                                  "ReloadConfigRequest"),
}


@dataclasses.dataclass
class GrpcCase:
    method: str
    payload: bytes
    origin: str = ""

    def describe(self) -> str:
        shown = repr(self.payload[:200]) + (f"... ({len(self.payload)} bytes)"
                                            if len(self.payload) > 200 else "")
        return f"[{self.origin}] {self.method} {shown}"


def _message(method: str) -> Any:
    import importlib

    _, module, name = METHODS[method]
    return getattr(importlib.import_module(f"tensorflow_serving.apis.{module}"), name)()


def _spec(rng: random.Random, spec: Any) -> None:
    spec.name = rng.choice(["digits", "digits", "regress", "multi", "", "nope", "\u00e9" * 3])
    choice = rng.randrange(5)
    if choice == 1:
        spec.version.value = rng.choice([1, 2, 0, -1, 7, 2**63 - 1, -(2**63)])
    elif choice == 2:
        spec.version_label = rng.choice(["stable", "canary", "", "x" * 300, "\u00b2"])
    if rng.random() < 0.4:
        spec.signature_name = rng.choice(["serving_default", "classify", "edge", "regress",
                                          "", "nope", "__saved_model_init_op"])


def _random_tensor(rng: random.Random, tensor: Any) -> None:
    tensor.dtype = rng.choice(_DTYPES) if rng.random() < 0.3 else rng.choice([1, 1, 2, 7, 9, 3])
    rank = rng.choice([0, 1, 2, 3, 3, 4, 33, 40]) if rng.random() < 0.9 else rng.randrange(60)
    for _ in range(rank):
        tensor.tensor_shape.dim.add(size=rng.choice(
            [1, 2, 3, 8, 0, -1, -5, 2**20, 2**26, 2**32, 2**40, 2**62, 2**63 - 1]
            if rng.random() < 0.3 else [1, 2, 3, 8]))
    if rng.random() < 0.05:
        tensor.tensor_shape.unknown_rank = True
    action = rng.randrange(4)
    if action == 0:
        tensor.tensor_content = bytes(rng.randrange(256) for _ in range(rng.choice(
            [0, 1, 3, 4, 8, 12, 256, 1024])))
    else:
        field = rng.choice(_VALUE_FIELDS)
        n = rng.choice([0, 1, 2, 3, 8, 64, 65, 200])
        values = getattr(tensor, field)
        for _ in range(n):
            if field == "string_val":
                values.append(bytes(rng.randrange(256) for _ in range(rng.randrange(6))))
            elif field == "bool_val":
                values.append(rng.random() < 0.5)
            elif field in ("float_val", "double_val"):
                values.append(rng.choice([0.5, float("nan"), float("inf"), 1e38, -3.0]))
            elif field == "int_val":
                values.append(rng.choice([0, 1, -1, 255, 70000, -(2**31), 2**31 - 1]))
            elif field == "half_val":
                values.append(rng.choice([0, 15360, 65535, 70000, -1]))
            elif field == "uint32_val":
                values.append(rng.choice([0, 1, 2**32 - 1]))
            elif field == "uint64_val":
                values.append(rng.choice([0, 1, 2**64 - 1]))
            else:
                values.append(rng.choice([0, 1, -1, 2**63 - 1, -(2**63)]))


def _example(rng: random.Random, example: Any) -> None:
    for _ in range(rng.randrange(0, 3)):
        feature = example.features.feature[rng.choice(["image", "x", "other", ""])]
        kind = rng.randrange(3)
        n = rng.choice([0, 1, 2, 63, 64, 65])
        if kind == 0:
            feature.float_list.value.extend(rng.uniform(0, 16) for _ in range(n))
        elif kind == 1:
            feature.int64_list.value.extend(rng.randrange(-9, 9) for _ in range(n))
        else:
            feature.bytes_list.value.extend(b"\xff\x00ab"[: rng.randrange(5)] for _ in range(n))


def _input(rng: random.Random, request_input: Any) -> None:
    kind = rng.randrange(3)
    if kind == 0:
        for _ in range(rng.randrange(0, 4)):
            _example(rng, request_input.example_list.examples.add())
    elif kind == 1:
        _example(rng, request_input.example_list_with_context.context)
        for _ in range(rng.randrange(0, 4)):
            _example(rng, request_input.example_list_with_context.examples.add())


def _random_request(rng: random.Random, method: str) -> Any:
    request = _message(method)
    if method == "Predict":
        _spec(rng, request.model_spec)
        names = ["image", "x", "n", "s", "", "inputs"]
        for _ in range(rng.randrange(0, 4)):
            _random_tensor(rng, request.inputs[rng.choice(names)])
        for _ in range(rng.randrange(0, 3) if rng.random() < 0.3 else 0):
            request.output_filter.append(rng.choice(["probabilities", "class_id", "sum", "",
                                                     "y", "nope"]))
    elif method in ("Classify", "Regress"):
        _spec(rng, request.model_spec)
        _input(rng, request.input)
    elif method == "MultiInference":
        for _ in range(rng.randrange(0, 4)):
            task = request.tasks.add()
            _spec(rng, task.model_spec)
            task.method_name = rng.choice(["tensorflow/serving/classify",
                                           "tensorflow/serving/regress",
                                           "tensorflow/serving/predict", "", "x"])
        _input(rng, request.input)
    elif method == "GetModelMetadata":
        if rng.random() < 0.9:
            _spec(rng, request.model_spec)
        for _ in range(rng.randrange(0, 3)):
            request.metadata_field.append(rng.choice(["signature_def", "", "other"]))
    elif method == "GetModelStatus":
        if rng.random() < 0.9:
            _spec(rng, request.model_spec)
    else:
        entry = request.config.model_config_list.config.add()
        entry.name = rng.choice(["digits", "x"])
        entry.base_path = rng.choice(["/etc", "/nonexistent", ""])
    return request


_NP_TYPES = {"float": "float32", "int64": "int64", "string": "object"}


def _near_valid_predict(rng: random.Random) -> Any:
    """A Predict request that fits a signature, then at most one thing changed: odd values
    (NaN, empty batch), a dtype, a dimension, an input too many or too few."""
    import numpy as np

    from serving import tensors

    request = _message("Predict")
    model = rng.choice(sorted(MODELS))
    signature = rng.choice(sorted(MODELS[model]))
    request.model_spec.name = model
    if signature != "serving_default" or rng.random() < 0.3:
        request.model_spec.signature_name = signature
    batch = rng.choice([0, 1, 1, 2, 3, 65])
    for name, (dtype, shape) in MODELS[model][signature].items():
        dims = [batch] + list(shape[1:])
        if dtype == "string":
            array = np.empty(dims, dtype=object)
            array.fill(rng.choice([b"", b"a", b"\xff\xfe"]))
        else:
            array = np.full(dims, rng.choice([0, 1, 16, -3, 1e30, float("nan")]
                                             if dtype == "float" else [0, 1, -5, 2**40]),
                            dtype=_NP_TYPES[dtype])
        request.inputs[name].CopyFrom(tensors.make_tensor_proto(array))
    tensor = request.inputs[rng.choice(sorted(request.inputs))]
    change = rng.randrange(6)
    if change == 0:
        tensor.dtype = rng.choice([1, 2, 3, 7, 9, 10, 19])
    elif change == 1 and tensor.tensor_shape.dim:
        rng.choice(tensor.tensor_shape.dim).size = rng.choice([0, 1, 7, 9, 2**20])
    elif change == 2:
        request.inputs[rng.choice(["extra", "image", "x"])].CopyFrom(tensor)
    elif change == 3:
        del request.inputs[rng.choice(sorted(request.inputs))]
    elif change == 4:
        request.output_filter.append(rng.choice(["probabilities", "class_id", "sum",
                                                 "echo_bytes", "length", "y", "nope"]))
    return request


def grpc_corpus() -> list[GrpcCase]:
    """Messages that once answered INTERNAL or cost 256 MiB (issue 12)."""
    from tensorflow_serving.apis import predict_pb2

    cases = []
    for dims, n in [([2**40], 1), ([2**63 - 1], 1), ([1] * 33, 1), ([2**32, 2**32], 1),
                    ([2**26], 1), ([2**26], 0), ([2**31, 2**31, 4], 1), ([2**21], 2),
                    ([0, 2**62], 0), ([-1, 8, 8], 1)]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits"
        tensor = request.inputs["image"]
        tensor.dtype = 1
        for d in dims:
            tensor.tensor_shape.dim.add(size=d)
        tensor.float_val.extend([1.0] * n)
        cases.append(GrpcCase("Predict", request.SerializeToString(), origin="corpus"))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "multi"
    request.inputs["s"].dtype = 7
    request.inputs["s"].tensor_shape.dim.add(size=2**30)
    request.inputs["s"].string_val.append(b"x")
    cases.append(GrpcCase("Predict", request.SerializeToString(), origin="corpus"))
    for method in METHODS:
        for payload in (b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x08" * 20,
                        b"\x0a\x05abc", b"\x12\x03\x0a\x01"):
            cases.append(GrpcCase(method, payload, origin="corpus-bytes"))
    return cases


def grpc_cases(seed: int, count: int) -> list[GrpcCase]:
    """The corpus, then generated cases up to ``count`` in all (same seed, same cases)."""
    rng = random.Random(seed)
    cases = grpc_corpus()
    weights = {"Predict": 8, "Classify": 3, "Regress": 2, "MultiInference": 2,
               "GetModelMetadata": 1, "GetModelStatus": 1, "HandleReloadConfigRequest": 1}
    methods = [m for m, w in weights.items() for _ in range(w)]
    while len(cases) < count:
        method = rng.choice(methods)
        payload = _random_request(rng, method).SerializeToString()
        kind = rng.randrange(12)
        if kind >= 10:
            method, origin = "Predict", "near-valid"
            payload = _near_valid_predict(rng).SerializeToString()
        elif kind == 0:  # random bytes
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            origin = "random-bytes"
        elif kind < 3 and payload:  # bit flips / cuts of a well-formed message
            payload = _mutate_bytes(rng, payload)
            origin = "byte-mutation"
        else:
            origin = "random-message"
        cases.append(GrpcCase(method, payload, origin=f"{origin}/{seed}"))
    return cases


def send_grpc(channel: Any, case: GrpcCase, timeout: float) -> tuple[str, str]:
    """Sends a case's bytes as they are; returns (status code name, details)."""
    import grpc

    service = METHODS[case.method][0]
    call = channel.unary_unary(f"/{service}/{case.method}",
                               request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    try:
        call(case.payload, timeout=timeout)
    except grpc.RpcError as e:
        return e.code().name, e.details() or ""
    return "OK", ""


def check_grpc(code: str, details: str) -> str:
    """What is wrong with an answer ("" if nothing)."""
    if code in ("INTERNAL", "UNKNOWN", "DATA_LOSS"):
        return code
    if code == "DEADLINE_EXCEEDED":
        return "no answer before the deadline"
    if code != "OK" and not details.strip():
        return f"{code} without a message"
    leaked = [s for s in LEAKS if s in details]
    if leaked:
        return f"TensorFlow internals in the error ({leaked[0]})"
    return ""
