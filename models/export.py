"""Writing SavedModels with named signatures for TF Serving, TFMA and the edge converters."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from dlpipe.contract import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD

__all__ = ["CLASSIFY_METHOD", "PREDICT_METHOD", "REGRESS_METHOD", "save_with_signatures",
           "set_method_names"]


def save_with_signatures(
    module: tf.Module,
    export_dir: str | Path,
    signatures: dict[str, tf.types.experimental.ConcreteFunction],
    method_names: dict[str, str] | None = None,
) -> None:
    """Saves ``module`` as a SavedModel and sets each signature's method name.

    TF2's ``tf.saved_model.save`` marks every signature as a Predict signature. TF Serving's
    Classify and Regress APIs only accept signatures whose method name is
    ``tensorflow/serving/classify`` / ``regress``, so those are rewritten in
    ``saved_model.pb`` after saving. Loading with ``tf.saved_model.load`` ignores the field.

    Args:
      module: The trackable object holding the model and its resources.
      export_dir: Destination directory (created).
      signatures: Signature name -> concrete function.
      method_names: Signature name -> method name, for non-Predict signatures.
    """
    export_dir = Path(export_dir)
    tf.saved_model.save(module, str(export_dir), signatures=signatures)
    if method_names:
        set_method_names(export_dir, method_names)


def set_method_names(export_dir: str | Path, method_names: dict[str, str]) -> None:
    """Rewrites the method name of the named signatures in ``saved_model.pb``.

    Raises:
      ValueError: naming the signature that is not in the SavedModel and those that are.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = Path(export_dir) / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(pb_path.read_bytes())
    for meta_graph in saved_model.meta_graphs:
        for name, method in method_names.items():
            if name not in meta_graph.signature_def:
                raise ValueError(
                    f"Cannot set the method of signature {name!r}: the SavedModel has "
                    f"{sorted(meta_graph.signature_def)}."
                )
            meta_graph.signature_def[name].method_name = method
    pb_path.write_bytes(saved_model.SerializeToString())
