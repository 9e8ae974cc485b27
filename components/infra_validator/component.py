"""InfraValidator: blesses a candidate only if the embedded server serves it correctly.

TFX's own InfraValidator needs Docker or Kubernetes to run TF Serving. This one loads the
candidate into dlpipe's embedded server (TF Serving's REST and gRPC APIs, see
``serving/``) on free loopback ports, sends eval examples over both APIs to every signature
it can feed (predict, classify, regress), and blesses the model only if every request
succeeds and every answer matches the SavedModel called in-process.

Usage (before the Pusher, which then requires the blessing)::

    infra_validator = InfraValidator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        num_examples=64,
    )
    pusher = Pusher(model=trainer.outputs["model"],
                    model_blessing=evaluator.outputs["blessing"],
                    infra_blessing=infra_validator.outputs["blessing"], ...)

Inputs: ``model`` (``Model``; the SavedModel is ``<uri>/Format-Serving``) and ``examples``
(``Examples``; gzipped TFRecords of tf.Example under ``Split-<split>/``). Output:
``blessing`` (``InfraBlessing``): custom property ``blessed`` = 1 or 0, a marker file
``INFRA_BLESSED`` / ``INFRA_NOT_BLESSED`` and ``infra_validation_report.json``.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.infra_validator import executor

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
BLESSING_KEY = "blessing"


class InfraValidatorSpec(types.ComponentSpec):
    """Inputs, outputs and parameters of :class:`InfraValidator`."""

    PARAMETERS = {
        "num_examples": ExecutionParameter(type=int),
        "split": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        "signature_names": ExecutionParameter(type=str, optional=True),
        "batch_size": ExecutionParameter(type=int),
        "rtol": ExecutionParameter(type=float),
        "atol": ExecutionParameter(type=float),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing),
    }


class InfraValidator(base_component.BaseComponent):
    """Serves the candidate in the embedded server and checks REST and gRPC answers.

    Args:
      model: Channel of the candidate ``Model`` (Trainer output).
      examples: Channel of ``Examples`` holding the eval split.
      num_examples: Eval examples to send (each over REST and gRPC, to each signature).
      split: The split to read (default ``eval``).
      model_name: Name the model is served under during the check.
      signature_names: Signatures to check, comma-separated (default: every signature the
        examples can feed; a listed signature that cannot be fed fails the validation).
      batch_size: Examples per request.
      rtol: Relative tolerance of the float comparison with the in-process SavedModel.
      atol: Absolute tolerance of that comparison.
    """

    SPEC_CLASS = InfraValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        num_examples: int = 64,
        split: str = "eval",
        model_name: str = "candidate",
        signature_names: str | None = None,
        batch_size: int = 8,
        rtol: float = 1e-5,
        atol: float = 1e-6,
    ) -> None:
        if num_examples < 1:
            raise ValueError(f"num_examples must be >= 1. Received: num_examples={num_examples!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size!r}")
        spec = InfraValidatorSpec(
            model=model,
            examples=examples,
            num_examples=num_examples,
            split=split,
            model_name=model_name,
            signature_names=signature_names,
            batch_size=batch_size,
            rtol=rtol,
            atol=atol,
            blessing=types.Channel(type=standard_artifacts.InfraBlessing),
        )
        super().__init__(spec=spec)
