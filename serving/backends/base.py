"""The backend interface: named signatures that map named numpy arrays to named arrays."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dlpipe.contract import SERVING_SIGNATURE as DEFAULT_SIGNATURE
from serving import tensors
from serving.errors import Code, ServingError, invalid_argument


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A signature input or output.

    Attributes:
      name: The alias clients use (the signature's key).
      dtype: TF DataType enum value (``types_pb2.DT_FLOAT``...).
      shape: Dimensions, ``None`` for an unknown dimension; ``None`` for unknown rank.
      tensor_name: The backend's own tensor name (shown in metadata).
    """

    name: str
    dtype: int
    shape: tuple[int | None, ...] | None
    tensor_name: str = ""

    def check(self, array: np.ndarray) -> None:
        """Raises INVALID_ARGUMENT if ``array`` does not fit this input."""
        want = tensors.dtype_name(self.dtype)
        got = tensors.dtype_name(tensors.tf_dtype(array))
        if want != got:
            raise invalid_argument(
                f"Expects arg '{self.name}' to be {want} but {got} is provided"
            )
        if self.shape is None:
            return
        ok = len(array.shape) == len(self.shape) and all(
            d is None or d == a for d, a in zip(self.shape, array.shape, strict=False)
        )
        if not ok:
            spec = "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"
            raise invalid_argument(
                f"Input '{self.name}' has shape {list(array.shape)}, which does not match the "
                f"signature's shape {spec}"
            )


@dataclasses.dataclass(frozen=True)
class Signature:
    """A named computation: inputs and outputs by alias, and its method name."""

    name: str
    method_name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]


class Servable(abc.ABC):
    """One loaded model version. Implementations must be safe to call from many threads."""

    #: Backend name shown in logs and metrics.
    backend: str = ""

    @property
    @abc.abstractmethod
    def signatures(self) -> Mapping[str, Signature]:
        """Callable signatures by name."""

    @abc.abstractmethod
    def _run(self, signature: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Runs a signature on validated inputs; returns every output as an array."""

    def signature_def_map(self) -> Any:
        """The ``SignatureDefMap`` proto for GetModelMetadata."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        out = get_model_metadata_pb2.SignatureDefMap()
        for sig in self.signatures.values():
            sd = out.signature_def[sig.name]
            sd.method_name = sig.method_name
            for specs, target in ((sig.inputs, sd.inputs), (sig.outputs, sd.outputs)):
                for spec in specs.values():
                    info = target[spec.name]
                    info.name = spec.tensor_name or spec.name
                    info.dtype = spec.dtype
                    info.tensor_shape.CopyFrom(tensors.shape_proto(spec.shape))
        return out

    def signature(self, name: str) -> Signature:
        name = name or DEFAULT_SIGNATURE
        try:
            return self.signatures[name]
        except KeyError:
            # TF Serving's predict path answers FAILED_PRECONDITION (predict_util.cc).
            raise ServingError(
                Code.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.'
            ) from None

    def run(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Validates inputs against the signature, runs it and returns the outputs.

        Raises:
          ServingError: INVALID_ARGUMENT for missing/extra/misfit inputs or outputs.
        """
        sig = self.signature(signature_name)
        check_inputs(sig, inputs)
        for alias in output_filter:
            if alias not in sig.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{','.join(sorted(sig.outputs))}}}."
                )
        if len(set(output_filter)) != len(output_filter):
            dup = [a for a in output_filter if list(output_filter).count(a) > 1][0]
            raise invalid_argument(f"duplicate output tensor alias: {dup}")
        outputs = self._run(sig, inputs)
        if output_filter:
            outputs = {k: outputs[k] for k in output_filter}
        return {k: np.asarray(v) for k, v in outputs.items()}

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Releases backend resources (optional)."""


def check_inputs(sig: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    """TF Serving's input-set check (predict_util.cc) plus dtype and shape checks."""
    if set(inputs) != set(sig.inputs):
        req, want = sorted(inputs), sorted(sig.inputs)
        extra = sorted(set(req) - set(want))
        missing = sorted(set(want) - set(req))
        raise invalid_argument(
            f"input size does not match signature: {len(req)}!={len(want)} "
            f"len({{{','.join(req)}}}) != len({{{','.join(want)}}}). "
            f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}."
        )
    for name, spec in sig.inputs.items():
        spec.check(inputs[name])


def example_inputs(sig: Signature, batch: int = 1) -> dict[str, np.ndarray]:
    """Synthetic inputs for a signature (zeros; empty serialized tf.Examples for strings)."""
    from serving.tensors import numpy_dtype

    out = {}
    for name, spec in sig.inputs.items():
        shape = [batch] + [1 if d is None else d for d in (spec.shape or (None,))[1:]]
        dtype = numpy_dtype(spec.dtype)
        if dtype is object:
            arr = np.empty(shape, dtype=object)
            arr.fill(b"")
        else:
            arr = np.zeros(shape, dtype=dtype)
        out[name] = arr
    return out
