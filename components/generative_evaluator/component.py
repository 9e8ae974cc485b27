"""GenerativeEvaluator: evaluates and blesses a VAE or a GAN, in place of TFMA's Evaluator.

TFMA evaluates predictions against labels; a generative model has neither. This component
computes the generative metrics (``metrics.py``) with an Apache Beam pipeline (the
pipeline's Beam arguments: DirectRunner by default) and blesses the model against
thresholds, writing the same ``ModelBlessing`` TFX's Evaluator writes (custom properties
``blessed``, ``current_model``, ``current_model_id``, ``baseline_model``,
``baseline_model_id``; a ``BLESSED`` / ``NOT_BLESSED`` file), so the Pusher, the
latest-blessed-model resolver, the InfraValidator and EdgeExport treat it the same way.

* VAE: the eval split's serialized examples go through the model's ``evaluate`` signature
  (reconstruction error, negative ELBO and the train split's mean-image baseline, per
  example); the sums become means.
* GAN: ``num_samples`` noise vectors (seeded) go through the ``generate`` signature, and the
  generated images through the scorer, a digits image classifier (a served model directory,
  its newest version, or a SavedModel directory): confidence, class coverage, Fréchet
  distance to the eval images' classifier outputs.

The latest blessed model (``baseline_model``), when there is one, is evaluated on the same
examples or the same noise, and the candidate must not be worse by more than
``max_regression``.

Usage::

    evaluator = GenerativeEvaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=resolver.outputs["model"], task=json.dumps(task.to_dict()),
        thresholds=Thresholds(min_confidence=0.7).to_json(),
        scorer_model="runs/serving/digits",
    ).with_id("Evaluator")

Outputs: ``evaluation`` (``ModelEvaluation``; ``generative_metrics.json`` and the Beam
pipeline's ``stats.json``) and ``blessing`` (``ModelBlessing``).
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.generative_evaluator import executor

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"


class GenerativeEvaluatorSpec(types.ComponentSpec):
    """Inputs, outputs and parameters of :class:`GenerativeEvaluator`."""

    PARAMETERS = {
        "task": ExecutionParameter(type=str),
        "thresholds": ExecutionParameter(type=str),
        "scorer_model": ExecutionParameter(type=str, optional=True),
        "num_samples": ExecutionParameter(type=int, optional=True),
        "seed": ExecutionParameter(type=int, optional=True),
        "split": ExecutionParameter(type=str, optional=True),
        "batch_size": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class GenerativeEvaluator(base_beam_component.BaseBeamComponent):
    """Evaluates a generative model with Beam and blesses it against thresholds.

    Args:
      examples: Channel of raw ``Examples`` (ExampleGen's), read from ``split``.
      model: Channel of the candidate ``Model``.
      baseline_model: Channel of the latest blessed ``Model`` (optional).
      task: The resolved task as JSON (``models.tasks.spec.Task.to_dict``): its kind
        (``vae`` or ``gan``), image feature and shape. A GAN's scorer is an image classifier
        whose ``serving_default`` takes that image feature and returns ``probabilities``.
      thresholds: ``metrics.Thresholds`` as JSON.
      scorer_model: GAN: the classifier scoring the samples: a served model directory
        (its newest numeric version is used) or a SavedModel directory.
      num_samples: GAN: samples generated and scored (default 1000).
      seed: GAN: seed of the noise (the same noise for candidate and baseline).
      split: The split evaluated (default ``eval``).
      batch_size: Examples or samples per model call.
    """

    SPEC_CLASS = GenerativeEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        task: str,
        thresholds: str,
        baseline_model: types.BaseChannel | None = None,
        scorer_model: str | None = None,
        num_samples: int | None = None,
        seed: int | None = None,
        split: str | None = None,
        batch_size: int | None = None,
    ) -> None:
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"num_samples must be >= 1. Received: num_samples={num_samples!r}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size!r}")
        spec = GenerativeEvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            task=task,
            thresholds=thresholds,
            scorer_model=scorer_model,
            num_samples=num_samples,
            seed=seed,
            split=split,
            batch_size=batch_size,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
