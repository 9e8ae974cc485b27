"""Model backends behind one interface: TF SavedModel, ONNX Runtime, LiteRT (TFLite).

The server only talks to :class:`serving.backends.base.Servable`; :func:`load_servable`
picks the implementation and :func:`version_dir_is_complete` says whether a version
directory holds what that backend needs.
"""

from __future__ import annotations

from pathlib import Path

from serving.backends.base import Servable, Signature, TensorSpec

BACKENDS = ("tensorflow", "onnx", "tflite")

__all__ = ["BACKENDS", "Servable", "Signature", "TensorSpec", "load_servable",
           "version_dir_is_complete"]


def _check(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")


def version_dir_is_complete(path: Path, backend: str = "tensorflow") -> bool:
    """Whether ``path`` has the model file(s) the backend loads (not that they are whole)."""
    _check(backend)
    if backend == "tensorflow":
        return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()
    if backend == "onnx":
        return (path / "model.onnx").is_file()
    return any(path.glob("*.tflite"))


def load_servable(path: Path, backend: str = "tensorflow", intra_op_threads: int = 0) -> Servable:
    """Loads one model version directory with the given backend.

    Args:
      intra_op_threads: Threads inside one operation for ONNX Runtime and LiteRT (0: their
        default; TensorFlow's is process-wide, set by ``dlpipe serve``).
    """
    _check(backend)
    if backend == "tensorflow":
        from serving.backends.saved_model import SavedModelServable

        return SavedModelServable(path)
    if backend == "onnx":
        from serving.backends.onnx import OnnxServable

        return OnnxServable(path, intra_op_threads=intra_op_threads)
    from serving.backends.tflite import TfliteServable

    return TfliteServable(path, num_threads=intra_op_threads or 1)
