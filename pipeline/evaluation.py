"""How each task kind is evaluated and blessed: TFMA's config, or the GenerativeEvaluator.

Classifiers: accuracy overall and per class (slices on the raw label, so a class slice is
named by its class), the confusion matrix; blessed only if accuracy >= ``evaluate.
min_accuracy``, every class >= ``evaluate.min_class_accuracy`` and no more than
``evaluate.max_accuracy_drop`` below the latest blessed model. Regressors: mean absolute,
mean squared and root mean squared error in the label's units; blessed only if under
``evaluate.max_mae`` / ``max_rmse`` (when set) and no more than ``evaluate.max_regression``
(a fraction) worse than the latest blessed model. TFMA reads the transformed label (class id,
or the value in label units) and each example's weight from the model's
``transform_features`` signature, so string classes and examples without a label work.
VAE and GAN: the GenerativeEvaluator (``components/generative_evaluator``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dlpipe import contract
from models.tasks.spec import GAN, RECALL, Task
from pipeline.config import PipelineConfig

ACCURACY = "sparse_categorical_accuracy"
MAE, MSE, RMSE = "mean_absolute_error", "mean_squared_error", "root_mean_squared_error"
"""The metric names TFMA reports (and the summary, report and model card read)."""


def eval_config(config: PipelineConfig, task: Task) -> Any:
    """TFMA's EvalConfig for a classification or regression task."""
    import tensorflow_model_analysis as tfma

    e = config.evaluate
    if task.is_regression:
        spec = tfma.ModelSpec(
            signature_name=contract.REGRESS_SIGNATURE, label_key=task.label_value_input,
            example_weight_key=task.weight_input, prediction_key=contract.REGRESS_OUTPUT,
            model_type="tf_generic",
            preprocessing_function_names=[contract.TRANSFORM_SIGNATURE])

        def error(class_name: str, name: str, bound: float, change: bool) -> Any:
            threshold = None
            if bound or change:
                threshold = tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(upper_bound={"value": bound})
                    if bound else None,
                    change_threshold=tfma.GenericChangeThreshold(
                        direction=tfma.MetricDirection.LOWER_IS_BETTER,
                        relative={"value": e.max_regression}) if change else None)
            return tfma.MetricConfig(class_name=class_name, config=json.dumps({"name": name}),
                                     threshold=threshold)

        # The MAE always carries a value bound, infinite when `max_mae` is 0 (not checked):
        # TFX's Evaluator drops change thresholds on a first run (no baseline yet) and never
        # blesses a model left with no threshold at all ("missing thresholds").
        metrics = [tfma.MetricConfig(class_name="ExampleCount"),
                   error("MeanAbsoluteError", MAE, e.max_mae or math.inf, True),
                   error("MeanSquaredError", MSE, 0.0, False),
                   error("RootMeanSquaredError", RMSE, e.max_rmse, False)]
        return tfma.EvalConfig(model_specs=[spec], slicing_specs=[tfma.SlicingSpec()],
                               metrics_specs=[tfma.MetricsSpec(metrics=metrics)])

    if task.is_retrieval:
        return _retrieval_eval_config(config, task)
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": e.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -e.max_accuracy_drop}),
    )
    by_class = tfma.SlicingSpec(feature_keys=[task.label])
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=contract.CLASSIFY_SIGNATURE, label_key=task.label_input,
            example_weight_key=task.weight_input, prediction_key=contract.SCORES_OUTPUT,
            model_type="tf_generic",
            preprocessing_function_names=[contract.TRANSFORM_SIGNATURE])],
        slicing_specs=[tfma.SlicingSpec(), by_class],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name="SparseCategoricalAccuracy",
                config=json.dumps({"name": ACCURACY}),
                # A plain `threshold` would apply to every slice; these are scoped.
                per_slice_thresholds=[
                    tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                                 threshold=accuracy_threshold),
                    tfma.PerSliceMetricThreshold(
                        slicing_specs=[by_class],
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(
                                lower_bound={"value": e.min_class_accuracy}))),
                ],
            ),
            tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        ])],
    )


def _retrieval_eval_config(config: PipelineConfig, task: Task) -> Any:
    """recall@k: the held-out item among the k best scored of the catalogue (Keras'
    top-k categorical accuracy on ``classify``'s scores; the label is the item's index in
    the catalogue, weight 0 for an item outside it)."""
    import tensorflow_model_analysis as tfma

    e = config.evaluate
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": e.min_recall}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -e.max_recall_drop}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=contract.CLASSIFY_SIGNATURE, label_key=task.label_input,
            example_weight_key=task.weight_input, prediction_key=contract.SCORES_OUTPUT,
            model_type="tf_generic",
            preprocessing_function_names=[contract.TRANSFORM_SIGNATURE])],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="SparseTopKCategoricalAccuracy",
                              config=json.dumps({"name": RECALL, "k": task.top_k}),
                              threshold=threshold),
        ])],
    )


def scorer_model_base(config: PipelineConfig) -> Path:
    """``evaluate.scorer_model`` as a path: relative paths are under the serving root."""
    path = Path(config.evaluate.scorer_model).expanduser()
    return path if path.is_absolute() else config.serving_root / path


def scorer_model_dir(config: PipelineConfig) -> str:
    """The scorer's newest version directory, resolved when the pipeline is built.

    Naming the version (not the base directory) in the Evaluator's properties makes a newer
    scorer version a new cache key: the GAN is re-scored instead of the old evaluation being
    reused. Where no version exists yet (e.g. exporting a DAG on another machine), the base
    directory is passed and the executor resolves the newest version when it runs.
    """
    from components.generative_evaluator.scorer import resolve_scorer
    from dlpipe.errors import DlpipeError

    base = scorer_model_base(config)
    try:
        return str(resolve_scorer(base))
    except DlpipeError:
        return str(base)


def check_evaluation(config: PipelineConfig) -> None:
    """Checks before a run that what the evaluator needs exists: a GAN's scorer model.

    Raises:
      DlpipeError: one line naming the missing scorer and how to get it.
    """
    if config.task.kind == GAN:
        from components.generative_evaluator.scorer import resolve_scorer

        resolve_scorer(scorer_model_base(config))


def create_evaluator(config: PipelineConfig, task: Task, examples: Any, model: Any,
                     baseline_model: Any) -> Any:
    """The node that evaluates and blesses the candidate, with node id ``Evaluator``."""
    if not task.is_generative:
        from tfx.components.evaluator.component import Evaluator

        return Evaluator(examples=examples, model=model, baseline_model=baseline_model,
                         eval_config=eval_config(config, task))
    from components.generative_evaluator.component import GenerativeEvaluator
    from components.generative_evaluator.metrics import Thresholds

    e = config.evaluate
    thresholds = Thresholds(
        max_reconstruction_ratio=e.max_reconstruction_ratio, max_elbo_ratio=e.max_elbo_ratio,
        max_regression=e.max_regression, min_confidence=e.min_confidence,
        min_class_coverage=e.min_class_coverage, max_frechet_distance=e.max_frechet_distance,
    )
    return GenerativeEvaluator(
        examples=examples, model=model, baseline_model=baseline_model,
        task=json.dumps(task.to_dict()), thresholds=thresholds.to_json(),
        scorer_model=scorer_model_dir(config) if task.kind == GAN else None,
        num_samples=e.num_samples, seed=config.train.seed,
    ).with_id("Evaluator")
