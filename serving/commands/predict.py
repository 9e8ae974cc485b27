"""``dlpipe predict``: send a JSON request or an image to a model server and print the answer.

The JSON file is a TF Serving REST body: ``{"instances": ...}`` / ``{"inputs": ...}`` for
predict, ``{"examples": ...}`` for classify (or regress with ``--method regress``).

An image file (PNG, JPEG, GIF, BMP) goes, as it is, to the model's ``predict_image``
signature when it has one (every image classifier dlpipe trains): the graph decodes and
resizes it and maps its 0..255 onto the pixel range the model learned from its data, so the
client assumes nothing about the data's units. For a model without that signature (or when
``--signature_name`` names another one), the file is turned into raw pixels here: resized to
the input's height x width and scaled to 0..``--pixel_max``, which must then be given (16 for
the bundled digits, 255 for 8-bit images). ``--invert`` turns dark ink on a light background
into light on dark, in both cases.

A WAV file goes, as it is, to the model's ``predict_audio`` signature (every audio
classifier dlpipe trains), which decodes it, checks its sample rate and pads or cuts it to
the clip length the model hears.
"""

from __future__ import annotations

import argparse

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm")
AUDIO_SUFFIXES = (".wav",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", required=True, help="Model name.")
    a("--input", required=True, help="JSON request file or image file.")
    a("--grpc", action="store_true", help="Use gRPC instead of REST.")
    a("--host", default="127.0.0.1", help="Server address (default 127.0.0.1).")
    a("--port", type=int, default=None, help="Port (default 8501 for REST, 8500 for gRPC).")
    a("--signature_name", "--signature", dest="signature_name", default="",
      help="Signature (default serving_default, or the file's signature_name).")
    a("--method", choices=("predict", "classify", "regress"), default=None,
      help="API method (default: classify for files with 'examples', else predict).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--version", type=int, default=None, help="Model version.")
    group.add_argument("--label", default=None, help="Model version label.")
    a("--pixel_max", type=float, default=None,
      help="Raw value of a white pixel in the model's training data, for a model without "
           "the predict_image signature (16 for the bundled digits, 255 for 8-bit images).")
    a("--invert", action="store_true", help="Invert image grey levels (dark ink on white).")
    a("--timeout", type=float, default=30.0, help="Request timeout in seconds.")
    a("--ca_cert", default=None,
      help="PEM file of the CA that signed the server's certificate (a server started with "
           "--ssl_config_file): TLS for REST and gRPC.")
    a("--client_cert", default=None,
      help="Client certificate PEM file (with --client_key), for a server with client_verify.")
    a("--client_key", default=None, help="Client private key PEM file (with --client_cert).")


def _load_request(path, method: str | None) -> tuple[dict, str]:
    import json

    from dlpipe.errors import DlpipeError

    try:
        body = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise DlpipeError(f"Cannot read {path}: {e}") from e
    except ValueError as e:
        raise DlpipeError(f"{path} is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise DlpipeError(
            f"{path} must hold a JSON object (a TF Serving request). Received: "
            f"{type(body).__name__}"
        )
    method = method or ("classify" if "examples" in body else "predict")
    return body, method


def _read_image(path, invert: bool):
    """The image file, decoded (and inverted when asked)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from dlpipe.errors import DlpipeError

    try:
        img = Image.open(path)
        img.load()
    except (OSError, UnidentifiedImageError) as e:
        raise DlpipeError(f"Cannot read image {path}: {e}") from e
    if invert:
        img = ImageOps.invert(img.convert("RGB" if img.mode not in ("L", "RGB") else img.mode))
    return img


def _image_file_bytes(path, invert: bool) -> bytes:
    """What ``predict_image`` receives: the file itself, or the inverted image as PNG."""
    import io

    if not invert:
        return path.read_bytes()
    buffer = io.BytesIO()
    _read_image(path, invert).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_batch(path, shape: list[int], pixel_max: float, invert: bool):
    import numpy as np

    from dlpipe.errors import DlpipeError

    if len(shape) not in (3, 4):
        raise DlpipeError(
            f"The signature's input must be an image batch [None, H, W] or [None, H, W, C]. "
            f"Received shape: {shape}"
        )
    height, width = shape[1], shape[2]
    channels = shape[3] if len(shape) == 4 else 0
    img = _read_image(path, invert).convert("RGB" if channels == 3 else "L")
    pixels = np.asarray(img.resize((width, height)), dtype=np.float32) / 255.0 * pixel_max
    if channels == 1:
        pixels = pixels[..., None]
    return pixels[None]


def _audio_inputs(sig_map, args, path) -> tuple[str, dict]:
    """(signature name, inputs) of a WAV file: the file itself for ``predict_audio``."""
    import numpy as np

    from dlpipe import contract
    from dlpipe.errors import DlpipeError

    name = args.signature_name or contract.AUDIO_BYTES_SIGNATURE
    sig_def = _signature(sig_map, name, path)
    input_name, _ = _single_input(sig_def, path)
    if input_name != contract.AUDIO_BYTES_INPUT:
        raise DlpipeError(
            f"Signature {name!r} of model {args.model!r} takes {input_name!r}, not WAV files "
            f"({contract.AUDIO_BYTES_INPUT!r}). Expected a model with the "
            f"{contract.AUDIO_BYTES_SIGNATURE!r} signature, or the samples as a JSON request."
        )
    files = np.empty(1, dtype=object)
    files[0] = path.read_bytes()
    return name, {input_name: files}


def _file_inputs(sig_map, args, path) -> tuple[str, dict]:
    """(signature name, inputs) of an image or audio file."""
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return _audio_inputs(sig_map, args, path)
    return _image_inputs(sig_map, args, path)


def _image_inputs(sig_map, args, path) -> tuple[str, dict]:
    """(signature name, inputs) of an image file: the file itself for ``predict_image``,
    else raw pixels scaled by ``--pixel_max``."""
    import numpy as np

    from dlpipe import contract
    from dlpipe.errors import DlpipeError

    name = args.signature_name
    if not name and contract.IMAGE_BYTES_SIGNATURE in sig_map.signature_def:
        name = contract.IMAGE_BYTES_SIGNATURE
    sig_def = _signature(sig_map, name, path)
    input_name, shape = _single_input(sig_def, path)
    if input_name == contract.IMAGE_BYTES_INPUT:
        files = np.empty(1, dtype=object)
        files[0] = _image_file_bytes(path, args.invert)
        return name or contract.SERVING_SIGNATURE, {input_name: files}
    if args.pixel_max is None:
        raise DlpipeError(
            f"Model {args.model!r} has no {contract.IMAGE_BYTES_SIGNATURE!r} signature to "
            f"take the image file as it is{' selected' if args.signature_name else ''}, so "
            f"it is sent as raw pixels: give --pixel_max, the raw value of a white pixel in "
            f"the model's training data (16 for the bundled digits, 255 for 8-bit images)."
        )
    return name or contract.SERVING_SIGNATURE, {
        input_name: _image_batch(path, shape, args.pixel_max, args.invert)}


def _single_input(sig_def, path) -> tuple[str, list[int]]:
    from dlpipe.errors import DlpipeError

    if len(sig_def.inputs) != 1:
        raise DlpipeError(
            f"An image input needs a signature with one input. Received inputs: "
            f"{sorted(sig_def.inputs)} (send a JSON file instead of {path})"
        )
    name, info = next(iter(sig_def.inputs.items()))
    return name, [int(d.size) for d in info.tensor_shape.dim]


def main(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from dlpipe.errors import DlpipeError
    from serving.errors import ServingError

    path = Path(args.input)
    if not path.is_file():
        raise DlpipeError(f"--input {path} does not exist or is not a file")
    sends_file = path.suffix.lower() in IMAGE_SUFFIXES + AUDIO_SUFFIXES
    port = args.port or (8500 if args.grpc else 8501)
    try:
        if args.grpc:
            result = _predict_grpc(args, path, sends_file, port)
        else:
            result = _predict_rest(args, path, sends_file, port)
    except ServingError as e:
        raise DlpipeError(f"{e.code.name}: {e.message}") from e
    print(json.dumps(result, indent=1))
    return 0


def _tls(args) -> dict:
    from dlpipe.errors import ConfigError

    if bool(args.client_cert) != bool(args.client_key):
        raise ConfigError("Give --client_cert and --client_key together. Received: "
                          f"--client_cert={args.client_cert!r}, --client_key={args.client_key!r}")
    client_cert = (args.client_cert, args.client_key) if args.client_cert else None
    return {"ca_cert": args.ca_cert, "client_cert": client_cert}


def _predict_rest(args, path, sends_file: bool, port: int) -> dict:
    from serving.client import RestClient

    client = RestClient(args.host, port, timeout=args.timeout, **_tls(args))
    spec = {"version": args.version, "label": args.label}
    if sends_file:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        from serving.client import to_json_value

        meta = client.metadata(args.model, **spec)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        json_format.ParseDict(meta["metadata"]["signature_def"], sig_map,
                              ignore_unknown_fields=True)
        name, inputs = _file_inputs(sig_map, args, path)
        body = {"signature_name": name,
                "instances": to_json_value(next(iter(inputs.values())))}
        return client.request(args.model, "predict", body, **spec)
    body, method = _load_request(path, args.method)
    if args.signature_name:
        body["signature_name"] = args.signature_name
    return client.request(args.model, method, body, **spec)


def _signature(sig_map, name: str, path):
    from dlpipe.errors import DlpipeError

    name = name or "serving_default"
    if name not in sig_map.signature_def:
        raise DlpipeError(
            f"The model has no signature {name!r}. Received signatures: "
            f"{sorted(k for k in sig_map.signature_def if not k.startswith('__'))}"
        )
    return sig_map.signature_def[name]


def _predict_grpc(args, path, sends_file: bool, port: int) -> dict:
    from google.protobuf import json_format

    from serving import json_codec
    from serving.backends.saved_model import _spec
    from serving.client import GrpcClient

    client = GrpcClient(args.host, port, timeout=args.timeout, **_tls(args))
    spec = {"version": args.version, "label": args.label}
    try:
        if sends_file:
            name, inputs = _file_inputs(client.signature_defs(args.model, **spec), args, path)
            args.signature_name = name
        else:
            body, method = _load_request(path, args.method)
            signature_name = args.signature_name or body.get("signature_name", "")
            if method != "predict":
                call = client.classify if method == "classify" else client.regress
                request_input = json_codec.decode_examples(body, method)
                examples = (request_input.example_list_with_context.examples
                            if "context" in body else request_input.example_list.examples)
                context = (request_input.example_list_with_context.context
                           if "context" in body else None)
                response = call(args.model, list(examples), context=context,
                                signature_name=signature_name, **spec)
                return json_format.MessageToDict(response, preserving_proto_field_name=True)
            sig_def = _signature(client.signature_defs(args.model, **spec), signature_name, path)
            specs = {k: _spec(k, v) for k, v in sig_def.inputs.items()}
            inputs, _ = json_codec.decode_predict(body, specs)
            args.signature_name = signature_name
        outputs = client.predict(args.model, inputs, signature_name=args.signature_name, **spec)
    finally:
        client.close()
    return {"outputs": {k: _json_value(k, v) for k, v in outputs.items()}}


def _json_value(name: str, value):
    """An output as TF Serving's REST API writes it: strings as text, except outputs named
    ``*_bytes``, which are ``{"b64": ...}``."""
    import numpy as np

    from serving.client import to_json_value

    if value.dtype.kind not in "OS" or name.endswith("_bytes"):
        return to_json_value(value)
    text = np.vectorize(lambda b: b.decode("utf-8", errors="replace")
                        if isinstance(b, bytes) else str(b), otypes=[object])
    return text(value).tolist() if value.size else value.tolist()
