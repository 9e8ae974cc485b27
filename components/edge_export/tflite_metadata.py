"""TFLite metadata inside each .tflite: what Android Studio's ML Model Binding and the TFLite
Task Library read (model name, version, description, author, license; the input's
normalization or tokenizer; the labels file of the output).

Written with tflite-support 0.4.4's metadata writers (``tensorflow_lite_support.metadata``,
importable beside TensorFlow; ``tflite_support`` itself is not, see docs/edge.md), which need
Debian's ``libusb-1.0-0``. Which writer a file gets:

- an image classifier (input ``[1, H, W, C]`` float32 or uint8): the ImageClassifier writer,
  with ``mean``/``std`` that map an app's 0..255 pixels onto the raw range the model takes
  (``normalization_for_range``); a uint8 input is fed as it is (its quantization does the
  mapping, see ``components/edge_export/convert.py``);
- a text classifier whose token ids dlpipe's Transform makes: the NLClassifier writer with
  a RegexTokenizer and a ``token id`` vocabulary (``components/edge_export/text.py``);
- everything else (tables, regressors, generators, other text, int8 tensors): the generic
  writer, with input and output descriptions (the output's units for a regressor), the
  input's range and the labels file of a classifier.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from components.edge_export import text as text_lib
from components.edge_export.signature import EdgeSignature

IMAGE_CLASSIFIER = "image_classifier"
NL_CLASSIFIER = "nl_classifier"
GENERIC = "generic"
LABELS_IN_FILE = "labels.txt"


class MetadataError(Exception):
    """The metadata could not be written or read (the message says why)."""


class WritersUnavailable(MetadataError):
    """tflite-support's metadata writers cannot be imported on this machine (e.g. Debian's
    libusb-1.0-0 is missing): the file can still be written, without metadata inside."""


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """The general fields of the metadata.

    Attributes:
      name: Model name (the pusher sets the served model's name).
      version: Model version (the pusher sets the served version; empty before a push).
      author: Who made the model.
      license: Its license.
    """

    name: str
    version: str = ""
    author: str = ""
    license: str = ""


@dataclasses.dataclass(frozen=True)
class Embedded:
    """What was written: the writer and which Task Library API can load the file.

    Attributes:
      writer: ``image_classifier``, ``nl_classifier`` or ``generic``.
      task_library: ``ImageClassifier``, ``NLClassifier`` or None.
      note: Why the Task Library cannot load it, when it cannot.
      normalization: ``{"mean": [...], "std": [...]}`` of an image input, else None.
    """

    writer: str
    task_library: str | None
    note: str = ""
    normalization: dict[str, list[float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _writers() -> Any:
    try:
        from tensorflow_lite_support.metadata import metadata_schema_py_generated as md_fb
        from tensorflow_lite_support.metadata import schema_py_generated as schema_fb
        from tensorflow_lite_support.metadata.python import metadata
        from tensorflow_lite_support.metadata.python.metadata_writers import (
            image_classifier,
            metadata_info,
            metadata_writer,
            nl_classifier,
        )
    except ImportError as e:
        hint = (" (install Debian's libusb-1.0-0: apt-get install libusb-1.0-0)"
                if "libusb" in str(e) else "")
        raise WritersUnavailable(f"cannot import the TFLite metadata writers of "
                                 f"tflite-support: {e}{hint}") from e
    return SimpleNamespace(md_fb=md_fb, schema_fb=schema_fb, metadata=metadata,
                           image=image_classifier, info=metadata_info, writer=metadata_writer,
                           nl=nl_classifier)


def normalization_for_range(low: float, high: float) -> tuple[float, float]:
    """``(mean, std)`` such that ``(p - mean) / std`` maps pixels 0..255 onto low..high.

    The Task Library feeds a float input ``(p - mean) / std`` of each 0..255 pixel value
    ``p``; the model takes raw values in ``[low, high]`` (what Transform learned)."""
    if not high > low:
        raise ValueError(f"the input range must have high > low. Received: ({low}, {high})")
    std = 255.0 / (high - low)
    return -low * std, std


def _tensor_type(w: Any, dtype: str) -> Any:
    return {"float32": w.schema_fb.TensorType.FLOAT32, "uint8": w.schema_fb.TensorType.UINT8,
            "int8": w.schema_fb.TensorType.INT8, "int32": w.schema_fb.TensorType.INT32,
            }.get(dtype)


def _description(sig: EdgeSignature, io: dict[str, Any]) -> str:
    spec = sig.spec
    shape = "x".join(str(d) for d in io["input"]["shape"][1:])
    what = spec.task if spec else ("classification" if sig.is_classifier else "model")
    labels = f" into {len(spec.labels)} classes ({LABELS_IN_FILE})" if spec and spec.labels else ""
    return (f"{what.capitalize()} of {io['input']['dtype']} {shape} input{labels}, exported by "
            f"dlpipe from the SavedModel signature '{sig.key}'.")


def _input_text(sig: EdgeSignature, io: dict[str, Any]) -> str:
    spec = sig.spec
    parts = [spec.normalization] if spec and spec.normalization else []
    q = io["input"].get("quantization")
    if q:
        parts.append(f"Quantized {io['input']['dtype']}: raw value = (q - {q['zero_point']}) "
                     f"* {q['scale']:.9g}.")
    return " ".join(parts) or "The values the SavedModel signature takes."


def _output_text(sig: EdgeSignature, io: dict[str, Any]) -> str:
    spec = sig.spec
    parts = [spec.output_meaning] if spec and spec.output_meaning else []
    q = io["output"].get("quantization")
    if q:
        parts.append(f"Quantized {io['output']['dtype']}: value = (q - {q['zero_point']}) "
                     f"* {q['scale']:.9g}.")
    return " ".join(parts) or "The SavedModel signature's output."


def embed(model: bytes, sig: EdgeSignature, io: dict[str, Any], info: ModelInfo,
          model_dir: str | Path) -> tuple[bytes, Embedded]:
    """Returns ``model`` with TFLite metadata (and its associated files) inside.

    Args:
      model: The converted flatbuffer.
      sig: The converted signature (its edge spec gives labels, range, meaning).
      io: The file's ``{"input": ..., "output": ...}`` tensor details (name, shape, dtype,
        quantization), as ``export._tflite_io`` reads them.
      info: Name, version, author, license.
      model_dir: The SavedModel (a dlpipe text model's vocabulary is read from it).

    Raises:
      MetadataError: tflite-support cannot be imported or refuses the metadata.
    """
    w = _writers()
    spec = sig.spec
    in_shape = io["input"]["shape"]
    in_dtype, out_dtype = io["input"]["dtype"], io["output"]["dtype"]
    general = w.info.GeneralMd(name=info.name, version=info.version,
                               description=_description(sig, io), author=info.author,
                               licenses=info.license)
    labels = list(spec.labels) if spec and spec.labels else []
    with tempfile.TemporaryDirectory() as tmp:
        label_files = []
        if labels:
            path = Path(tmp) / LABELS_IN_FILE
            path.write_text("\n".join(labels) + "\n")
            label_files = [w.info.LabelFileMd(str(path))]
        out_md = (w.info.ClassificationTensorMd(
            name=sig.output.name, description=_output_text(sig, io), label_files=label_files,
            tensor_type=_tensor_type(w, out_dtype))
            if labels else w.info.TensorMd(name=sig.output.name,
                                           description=_output_text(sig, io)))
        image = (sig.is_classifier and len(in_shape) == 4 and in_shape[-1] in (1, 3)
                 and in_dtype in ("float32", "uint8") and out_dtype in ("float32", "uint8"))
        vocab = (text_lib.dlpipe_vocab(model_dir)
                 if sig.is_classifier and len(in_shape) == 2 and in_dtype == "int32" else None)
        try:
            if image:
                writer, embedded = _image(w, model, sig, io, general, out_md)
            elif vocab is not None and labels:
                path = Path(tmp) / text_lib.TASK_LIBRARY_VOCAB_FILE
                path.write_text(text_lib.task_library_vocab(vocab), encoding="utf-8")
                in_md = w.info.InputTextTensorMd(
                    name=sig.input.name, description=(
                        "Token ids of the text; the NLClassifier makes them from raw text "
                        f"with the RegexTokenizer below ({_input_text(sig, io)})"),
                    tokenizer_md=w.info.RegexTokenizerMd(text_lib.DELIM_REGEX, str(path)))
                writer = w.nl.MetadataWriter.create_from_metadata_info(
                    bytearray(model), general, in_md, out_md)
                embedded = Embedded(NL_CLASSIFIER, "NLClassifier")
            else:
                writer, embedded = _generic(w, model, sig, io, general, out_md, labels)
            return bytes(writer.populate()), embedded
        except (ValueError, RuntimeError, KeyError) as e:
            raise MetadataError(f"tflite-support refused the metadata: {e}") from e


def _image(w: Any, model: bytes, sig: EdgeSignature, io: dict[str, Any], general: Any,
           out_md: Any) -> tuple[Any, Embedded]:
    spec = sig.spec
    channels = io["input"]["shape"][-1]
    color = w.md_fb.ColorSpaceType.RGB if channels == 3 else w.md_fb.ColorSpaceType.GRAYSCALE
    uint8 = io["input"]["dtype"] == "uint8"
    mean = std = None
    if spec and spec.input_range and not uint8:
        m, s = normalization_for_range(*spec.input_range)
        mean, std = [m], [s]
    desc = _input_text(sig, io)
    if mean is not None:
        desc += (f" An app's 0..255 pixel p is fed as (p - {mean[0]:.9g}) / {std[0]:.9g} "
                 f"(the NormalizationOptions), which is the raw range "
                 f"{spec.input_range[0]:g}..{spec.input_range[1]:g}.")
    in_md = w.info.InputImageTensorMd(
        name=sig.input.name, description=desc, norm_mean=mean, norm_std=std,
        color_space_type=color, tensor_type=_tensor_type(w, io["input"]["dtype"]))
    writer = w.image.MetadataWriter.create_from_metadata_info(bytearray(model), general, in_md,
                                                              out_md)
    note = ""
    if channels != 3:
        note = (f"the Task Library's ImageClassifier (tflite-support 0.4.4) takes only "
                f"[1, H, W, 3] RGB inputs; this file takes {io['input']['shape']} (export "
                f"with --rgb-input for an RGB file)")
    elif not uint8 and mean is None:
        note = "no input range declared: no normalization for the Task Library to apply"
    return writer, Embedded(IMAGE_CLASSIFIER, None if note else "ImageClassifier", note,
                            {"mean": mean, "std": std} if mean is not None else None)


def _generic(w: Any, model: bytes, sig: EdgeSignature, io: dict[str, Any], general: Any,
             out_md: Any, labels: list[str]) -> tuple[Any, Embedded]:
    spec = sig.spec
    low_high = spec.input_range if spec and spec.input_range else None
    in_md = w.info.TensorMd(name=sig.input.name, description=_input_text(sig, io),
                            min_values=[float(low_high[0])] if low_high else None,
                            max_values=[float(low_high[1])] if low_high else None)
    files = [f.file_path for f in (out_md.associated_files or [])]
    writer = w.writer.MetadataWriter.create_from_metadata_info(
        bytearray(model), general, [in_md], [out_md], files)
    note = ""
    if sig.is_classifier and labels:
        note = ("not an image or dlpipe text classifier input: no Task Library API takes "
                f"{io['input']['dtype']} {io['input']['shape']}")
    return writer, Embedded(GENERIC, None, note)


def read(model: bytes) -> dict[str, Any] | None:
    """The metadata of a .tflite as the metadata displayer shows it, or None without any.

    Returns:
      ``{"metadata": <the JSON as a dict>, "files": {name: text}}``.
    """
    w = _writers()
    if w.metadata.get_metadata_buffer(bytearray(model)) is None:
        return None
    displayer = w.metadata.MetadataDisplayer.with_model_buffer(bytearray(model))
    files = {name: displayer.get_associated_file_buffer(name).decode("utf-8", "replace")
             for name in displayer.get_packed_associated_file_list()}
    return {"metadata": json.loads(displayer.get_metadata_json()), "files": files}


def set_name_and_version(model: bytes, name: str, version: str) -> bytes:
    """``model`` with its metadata's name and version replaced; the rest is kept.

    Raises:
      MetadataError: the file carries no metadata.
    """
    w = _writers()
    buf = w.metadata.get_metadata_buffer(bytearray(model))
    if buf is None:
        raise MetadataError("the .tflite file carries no metadata to set the name in")
    meta = w.md_fb.ModelMetadataT.InitFromObj(w.md_fb.ModelMetadata.GetRootAsModelMetadata(
        buf, 0))
    meta.name, meta.version = name, version
    import flatbuffers

    b = flatbuffers.Builder(0)
    b.Finish(meta.Pack(b), w.metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    populator = w.metadata.MetadataPopulator.with_model_buffer(bytearray(model))
    populator.load_metadata_buffer(b.Output())
    populator.populate()
    return bytes(populator.get_model_buffer())
