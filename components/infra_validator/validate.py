"""The infra validation itself, without TFX: serve, query over REST and gRPC, compare.

``validate_model`` copies the SavedModel into a private serving root as version 1, starts
:class:`serving.server.ModelServer` on free loopback ports, checks status and metadata over
both APIs, then sends the eval examples to every signature it can feed from them:

* predict signatures: each input is taken from the tf.Example feature of the same name
  (reshaped to the input's shape), or, for a single string input, the serialized example;
  sent as REST row-format ``instances`` and as a gRPC PredictRequest; a batch that cannot
  form the inputs (a feature missing, or with a missing value) is not sent;
* classify / regress signatures: REST ``examples`` JSON (built from the tf.Example the way
  TF Serving reads it back) and gRPC Classify / Regress with the tf.Examples;

and compares every answer with the same signature called in-process on the SavedModel.
A generator's noise input (edge spec ``input_source: normal``: a GAN's ``noise``, a VAE
decoder's ``z``) is fed seeded standard normal values (``add_noise_feature``); the
signatures taking files (``predict_image``, ``predict_audio``) are fed each example's input
encoded as a PNG or WAV file (``add_file_features``).
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.contract import CLASSIFY_METHOD, REGRESS_METHOD
from dlpipe.examples import read_records


@dataclasses.dataclass
class CheckResult:
    """One signature (or API) checked over one protocol."""

    name: str
    protocol: str
    requests: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    max_abs_diff: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclasses.dataclass
class ValidationReport:
    """What ``validate_model`` found; ``blessed`` only if every check passed."""

    blessed: bool
    reason: str
    checks: list[CheckResult]
    num_examples: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "blessed": self.blessed,
            "reason": self.reason,
            "num_examples": self.num_examples,
            "seconds": round(self.seconds, 3),
            "checks": [dict(dataclasses.asdict(c), ok=c.ok) for c in self.checks],
        }


def read_examples(paths: Sequence[Path], limit: int) -> list[bytes]:
    """Up to ``limit`` serialized tf.Examples from (gzipped) TFRecord files."""
    return list(read_records(paths, limit))


def example_to_json(example: Any) -> dict[str, Any]:
    """A tf.Example as TF Serving's REST ``examples`` object (floats stay floats)."""
    out: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            out[name] = [float(v) for v in feature.float_list.value]
        elif kind == "int64_list":
            out[name] = [int(v) for v in feature.int64_list.value]
        elif kind == "bytes_list":
            out[name] = [
                {"b64": base64.b64encode(v).decode("ascii")} for v in feature.bytes_list.value
            ]
    return out


def _feature_array(examples: list[Any], name: str, spec: Any) -> np.ndarray | None:
    from serving import tensors

    values = []
    for ex in examples:
        if name not in ex.features.feature:
            return None
        feature = ex.features.feature[name]
        kind = feature.WhichOneof("kind")
        values.append(list(getattr(feature, kind).value) if kind else [])
    if len({len(v) for v in values}) != 1:  # e.g. a missing value: no fixed-shape input
        return None
    dtype = tensors.numpy_dtype(spec.dtype)
    if dtype is object:
        arr = np.empty((len(values), len(values[0])), dtype=object)
        arr[:] = values
    else:
        arr = np.asarray(values, dtype=dtype)
    shape = spec.shape
    if shape is not None:
        inner = [-1 if d is None else d for d in shape[1:]]
        try:
            arr = arr.reshape([len(examples), *inner])
        except ValueError:
            return None
    return arr


def add_file_features(examples: list[Any], model_dir: Path) -> None:
    """Gives each example the encoded file of its input, when the model has a signature
    taking files, so that signature is checked like any other: an image classifier's
    ``predict_image`` gets the image as a PNG (pixels mapped from the learned range onto
    0..255, the inverse of the graph's mapping, rounded); an audio classifier's
    ``predict_audio`` gets the clip as a 16-bit PCM WAV at the model's sample rate."""
    import io

    from dlpipe.contract import AUDIO_BYTES_INPUT, IMAGE_BYTES_INPUT
    from models.tasks.export import read_task_info

    info = read_task_info(model_dir)
    if not info:
        return
    task, learned = info["task"], info.get("learned", {})
    if "pixel_range" in learned:
        from PIL import Image

        low, high = learned["pixel_range"]
        key, name, shape = task["image"], IMAGE_BYTES_INPUT, [int(d) for d in task["image_shape"]]

        def encode(values: np.ndarray) -> bytes | None:
            if values.size != int(np.prod(shape)) or high <= low:
                return None
            levels = np.clip(np.round((values - low) / (high - low) * 255.0), 0, 255)
            pixels = levels.astype(np.uint8).reshape(shape)
            buffer = io.BytesIO()
            Image.fromarray(pixels[..., 0] if shape[-1] == 1 else pixels).save(buffer, "PNG")
            return buffer.getvalue()
    elif task.get("kind") == "audio_classification":
        from scipy.io import wavfile

        key, name = task["audio"], AUDIO_BYTES_INPUT
        rate, scale = int(task["sample_rate"]), float(task["audio_scale"])

        def encode(values: np.ndarray) -> bytes | None:
            if not values.size:
                return None
            pcm = np.clip(np.round(values / scale * 32767.0), -32768, 32767).astype(np.int16)
            buffer = io.BytesIO()
            wavfile.write(buffer, rate, pcm)
            return buffer.getvalue()
    else:
        return
    for ex in examples:
        feature = ex.features.feature.get(key)
        kind = feature.WhichOneof("kind") if feature is not None else None
        data = encode(np.asarray(getattr(feature, kind).value if kind else [], np.float64))
        if data is not None:  # else a missing input: the examples cannot feed the signature
            ex.features.feature[name].bytes_list.value[:] = [data]


def add_noise_feature(examples: list[Any], model_dir: Path, seed: int = 0) -> None:
    """Gives each example a generator's noise input when the model's edge spec says its
    input is standard normal noise (``input_source: normal``, e.g. a GAN's ``noise``, a
    VAE decoder's ``z``): a seeded float feature named like the input, so the predict
    signatures taking it are fed like any other."""
    import math

    from models.edge import read_edge_spec

    spec = read_edge_spec(model_dir)
    if spec is None or spec.input_source != "normal":
        return
    rng = np.random.default_rng(seed)
    size = math.prod(spec.input_shape)
    for ex in examples:
        values = ex.features.feature[spec.input_name].float_list.value
        values[:] = rng.standard_normal(size).astype(np.float32).tolist()


def predict_inputs(
    examples: list[Any], serialized: list[bytes], sig: Any
) -> dict[str, np.ndarray] | None:
    """Inputs of a predict signature built from tf.Examples, or None if it cannot be fed."""
    from tensorflow.core.framework import types_pb2

    if len(sig.inputs) == 1:
        ((name, spec),) = sig.inputs.items()
        if (
            spec.dtype == types_pb2.DT_STRING
            and spec.shape is not None
            and len(spec.shape) == 1
            and not all(name in ex.features.feature for ex in examples)
        ):
            arr = np.empty(len(serialized), dtype=object)
            arr[:] = serialized
            return {name: arr}
    out = {}
    for name, spec in sig.inputs.items():
        arr = _feature_array(examples, name, spec)
        if arr is None:
            return None
        out[name] = arr
    return out


def _compare(
    check: CheckResult,
    got: dict[str, np.ndarray],
    want: dict[str, np.ndarray],
    rtol: float,
    atol: float,
    what: str,
) -> None:
    if set(got) != set(want):
        check.failures.append(f"{what}: outputs {sorted(got)} != expected {sorted(want)}")
        return
    for k in want:
        g, w = np.asarray(got[k]), np.asarray(want[k])
        if g.shape != w.shape:
            check.failures.append(f"{what}: output {k} shape {g.shape} != expected {w.shape}")
        elif w.dtype.kind == "f":
            diff = float(np.max(np.abs(g.astype(np.float64) - w))) if w.size else 0.0
            check.max_abs_diff = max(check.max_abs_diff, diff)
            if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
                check.failures.append(
                    f"{what}: output {k} differs by up to {diff:.3g} (rtol={rtol}, atol={atol})"
                )
        elif w.dtype.kind in "OS":
            if [bytes(x) for x in g.reshape(-1)] != [bytes(x) for x in w.reshape(-1)]:
                check.failures.append(f"{what}: output {k} (strings) differs")
        elif not np.array_equal(g, w):
            check.failures.append(f"{what}: output {k} differs")


def _rest_outputs(answer: dict, names: list[str]) -> dict[str, np.ndarray]:
    preds = answer["predictions"]
    if len(names) == 1:
        return {names[0]: np.asarray(preds)}
    return {n: np.asarray([p[n] for p in preds]) for n in names}


def _guard(check: CheckResult, what: str, fn: Any) -> Any:
    check.requests += 1
    try:
        return fn()
    except Exception as e:  # every failure is recorded, the validation goes on
        check.failures.append(f"{what}: {type(e).__name__}: {e}")
        return None


def validate_model(
    model_dir: Path,
    serialized_examples: list[bytes],
    *,
    model_name: str = "candidate",
    signature_names: Sequence[str] = (),
    batch_size: int = 8,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> ValidationReport:
    """Serves ``model_dir`` in the embedded server and checks it answers like the SavedModel.

    Args:
      model_dir: The SavedModel directory (with ``saved_model.pb``).
      serialized_examples: Eval tf.Examples to send.
      model_name: The name it is served under.
      signature_names: Signatures to check (default: every signature the examples can feed).
      batch_size: Examples per request.
      rtol, atol: Float tolerance of the comparison with the in-process call.

    Returns:
      The report; ``blessed`` is True only if every request succeeded and matched.
    """
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    from serving.backends.saved_model import SavedModelServable
    from serving.client import GrpcClient, RestClient
    from serving.server import ModelServer, ServerOptions

    started = time.monotonic()
    checks: list[CheckResult] = []

    def report(blessed: bool, reason: str) -> ValidationReport:
        return ValidationReport(
            blessed, reason, checks, len(serialized_examples), time.monotonic() - started
        )

    if not serialized_examples:
        return report(False, "no eval examples to send")
    examples = [example_pb2.Example.FromString(s) for s in serialized_examples]
    add_noise_feature(examples, Path(model_dir))
    add_file_features(examples, Path(model_dir))
    try:
        reference = SavedModelServable(Path(model_dir))
    except Exception as e:  # a model that cannot load in-process cannot be blessed
        return report(False, f"the SavedModel does not load: {e}")
    reference_fns = reference._functions

    workdir = Path(tempfile.mkdtemp(prefix="infra_validator_"))
    try:
        shutil.copytree(model_dir, workdir / model_name / "1")
        server = ModelServer(
            ServerOptions(
                grpc_port=0,
                rest_port=0,
                host="127.0.0.1",
                model_name=model_name,
                model_base_path=str(workdir / model_name),
                poll_seconds=0,
            )
        )
        try:
            server.start()
        except Exception as e:  # the server refusing the model is a validation failure
            return report(False, f"the model server did not start: {e}")
        rest = RestClient("127.0.0.1", server.rest_port)
        grpc_client = GrpcClient("127.0.0.1", server.grpc_port)
        try:
            _check_status(checks, rest, grpc_client, model_name)
            names = list(signature_names) or sorted(reference.signatures)
            tested = 0
            for name in names:
                sig = reference.signatures.get(name)
                if sig is None:
                    checks.append(
                        CheckResult(
                            name,
                            "both",
                            failures=[
                                f"signature {name!r} not in the model "
                                f"({sorted(reference.signatures)})"
                            ],
                        )
                    )
                    continue
                sent = False
                for start in range(0, len(examples), batch_size):
                    chunk = examples[start : start + batch_size]
                    raw = serialized_examples[start : start + batch_size]
                    check = (
                        _check_classify_regress
                        if sig.method_name in (CLASSIFY_METHOD, REGRESS_METHOD)
                        else _check_predict
                    )
                    done = check(
                        checks,
                        rest,
                        grpc_client,
                        model_name,
                        sig,
                        chunk,
                        raw,
                        reference_fns[name],
                        rtol,
                        atol,
                    )
                    sent = sent or done
                tested += int(sent)
        finally:
            rest.close()
            grpc_client.close()
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        del tf
    failed = [c for c in checks if not c.ok]
    if failed:
        first = failed[0]
        return report(
            False,
            f"{len(failed)} check(s) failed; first: {first.name} over "
            f"{first.protocol}: {first.failures[0]}",
        )
    if not tested:
        return report(False, "no signature could be fed from the eval examples")
    return report(
        True, f"{tested} signature(s) answered every request over REST and gRPC like the SavedModel"
    )


def _merge(checks: list[CheckResult], name: str, protocol: str) -> CheckResult:
    for c in checks:
        if c.name == name and c.protocol == protocol:
            return c
    checks.append(CheckResult(name, protocol))
    return checks[-1]


def _check_status(checks: list[CheckResult], rest: Any, grpc_client: Any, name: str) -> None:
    c = _merge(checks, "status+metadata", "rest")
    status = _guard(c, "REST status", lambda: rest.status(name))
    if status is not None and [s["state"] for s in status["model_version_status"]] != ["AVAILABLE"]:
        c.failures.append(f"REST status: {status}")
    _guard(c, "REST metadata", lambda: rest.metadata(name))
    c = _merge(checks, "status+metadata", "grpc")
    status = _guard(c, "gRPC GetModelStatus", lambda: grpc_client.status(name))
    if status is not None and [s.state for s in status.model_version_status] != [30]:
        c.failures.append(f"gRPC status: {status}")
    _guard(c, "gRPC GetModelMetadata", lambda: grpc_client.metadata(name))


def _reference(fn: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    feed = {k: tf.constant(v.tolist() if v.dtype == object else v) for k, v in inputs.items()}
    return {k: v.numpy() for k, v in fn(**feed).items()}


def _check_predict(checks, rest, grpc_client, model_name, sig, chunk, raw, fn, rtol, atol) -> bool:
    from serving.client import to_json_value

    inputs = predict_inputs(chunk, raw, sig)
    if inputs is None:
        return False
    want = _guard(
        _merge(checks, sig.name, "in-process"), "SavedModel call", lambda: _reference(fn, inputs)
    )
    if want is None:
        return True
    names = sorted(sig.outputs)
    c = _merge(checks, sig.name, "rest")
    if len(inputs) == 1:
        instances = to_json_value(next(iter(inputs.values())))
    else:
        instances = [{k: to_json_value(v[i]) for k, v in inputs.items()} for i in range(len(chunk))]
    answer = _guard(
        c,
        "REST :predict",
        lambda: rest.predict(model_name, instances=instances, signature_name=sig.name),
    )
    if answer is not None:
        got = _rest_outputs(answer, names)
        for k, v in got.items():
            if want[k].dtype.kind in "OS":  # *_bytes outputs come back as {"b64": ...}
                got[k] = np.asarray(
                    [
                        base64.b64decode(x["b64"]) if isinstance(x, dict) else str(x).encode()
                        for x in v.reshape(-1)
                    ],
                    dtype=object,
                ).reshape(v.shape)
        _compare(c, got, want, rtol, atol, "REST :predict")
    c = _merge(checks, sig.name, "grpc")
    out = _guard(
        c, "gRPC Predict", lambda: grpc_client.predict(model_name, inputs, signature_name=sig.name)
    )
    if out is not None:
        _compare(c, out, want, rtol, atol, "gRPC Predict")
    return True


def _check_classify_regress(
    checks, rest, grpc_client, model_name, sig, chunk, raw, fn, rtol, atol
) -> bool:
    arr = np.empty(len(raw), dtype=object)
    arr[:] = raw
    reference = _guard(
        _merge(checks, sig.name, "in-process"),
        "SavedModel call",
        lambda: _reference(fn, {"inputs": arr}),
    )
    if reference is None:
        return True
    is_classify = sig.method_name == CLASSIFY_METHOD
    json_examples = [example_to_json(ex) for ex in chunk]
    c = _merge(checks, sig.name, "rest")
    if is_classify:
        results = _guard(
            c,
            "REST :classify",
            lambda: rest.classify(model_name, json_examples, signature_name=sig.name),
        )
        if results is not None:
            _compare(
                c,
                _classify_rest(results, reference),
                _classify_want(reference),
                rtol,
                atol,
                "REST :classify",
            )
    else:
        results = _guard(
            c,
            "REST :regress",
            lambda: rest.regress(model_name, json_examples, signature_name=sig.name),
        )
        if results is not None:
            _compare(
                c,
                {"outputs": np.asarray(results, dtype=np.float32)},
                {"outputs": reference["outputs"].reshape(-1)},
                rtol,
                atol,
                "REST :regress",
            )
    c = _merge(checks, sig.name, "grpc")
    if is_classify:
        response = _guard(
            c,
            "gRPC Classify",
            lambda: grpc_client.classify(model_name, chunk, signature_name=sig.name),
        )
        if response is not None:
            got = {}
            cls = response.result.classifications
            if "scores" in reference:
                got["scores"] = np.asarray(
                    [[x.score for x in r.classes] for r in cls], dtype=np.float32
                )
            if "classes" in reference:
                got["classes"] = np.asarray(
                    [[x.label.encode() for x in r.classes] for r in cls], dtype=object
                )
            _compare(c, got, _classify_want(reference), rtol, atol, "gRPC Classify")
    else:
        response = _guard(
            c,
            "gRPC Regress",
            lambda: grpc_client.regress(model_name, chunk, signature_name=sig.name),
        )
        if response is not None:
            got = np.asarray([r.value for r in response.result.regressions], dtype=np.float32)
            _compare(
                c,
                {"outputs": got},
                {"outputs": reference["outputs"].reshape(-1)},
                rtol,
                atol,
                "gRPC Regress",
            )
    return True


def _classify_want(reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: reference[k] for k in ("classes", "scores") if k in reference}


def _classify_rest(results: list, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    got = {}
    if "scores" in reference:
        got["scores"] = np.asarray([[s for _, s in r] for r in results], dtype=np.float32)
    if "classes" in reference:
        got["classes"] = np.asarray(
            [[label.encode() for label, _ in r] for r in results], dtype=object
        )
    return got
