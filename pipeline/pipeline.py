"""The TFX pipeline factory: wiring only.

``create_pipeline`` turns a validated ``PipelineConfig`` into a TFX ``Pipeline``. It imports
no model code: Transform and Trainer get their functions by dotted path from the config.
Every orchestrator runs what this returns: the local runner (``pipeline.runner``), Airflow
and Kubeflow Pipelines / Vertex (``pipeline.orchestrators``).

ExampleGen -> StatisticsGen -> SchemaGen/ImportSchemaGen -> ExampleValidator
  -> ValidationGate -> Transform -> Trainer -> Evaluator (vs latest blessed; TFMA, or the
     GenerativeEvaluator when the task's facts module says EVALUATION = "generative")
  -> InfraValidator (embedded server, REST + gRPC) -> Pusher
  -> EdgeExport (TFLite, ONNX; each checked against the SavedModel) -> EdgePusher
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import PipelineConfig

PREDICTION_KEY = "scores"
"""Output of a Classify signature (TF Serving's contract) that TFMA scores."""
ACCURACY = "sparse_categorical_accuracy"


def eval_config(config: PipelineConfig):
    """TFMA config: accuracy overall and per class (slices on the label).

    Blessing needs, on the overall slice, accuracy >= ``evaluate.min_accuracy`` and no more
    than ``evaluate.max_accuracy_drop`` below the latest blessed model; and on every class
    slice, accuracy >= ``evaluate.min_class_accuracy``.
    """
    import tensorflow_model_analysis as tfma

    task = config.task_facts()
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.evaluate.min_accuracy}
        ),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.evaluate.max_accuracy_drop},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=task.EXAMPLES_SIGNATURE,
                label_key=task.LABEL_KEY,
                prediction_key=PREDICTION_KEY,
                model_type="tf_generic",
                preprocessing_function_names=[],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[task.LABEL_KEY])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        config=json.dumps({"name": ACCURACY}),
                        # A plain `threshold` would apply to every slice; these are scoped.
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[tfma.SlicingSpec()],
                                threshold=accuracy_threshold,
                            ),
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[tfma.SlicingSpec(feature_keys=[task.LABEL_KEY])],
                                threshold=tfma.MetricThreshold(
                                    value_threshold=tfma.GenericValueThreshold(
                                        lower_bound={
                                            "value": config.evaluate.min_class_accuracy
                                        }
                                    )
                                ),
                            ),
                        ],
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )


def is_generative(config: PipelineConfig) -> bool:
    """The task's facts module declares ``EVALUATION = "generative"`` (a VAE or a GAN)."""
    return getattr(config.task_facts(), "EVALUATION", "tfma") == "generative"


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
    if is_generative(config) and getattr(config.task_facts(), "GENERATIVE_KIND", "") == "gan":
        from components.generative_evaluator.scorer import resolve_scorer

        resolve_scorer(scorer_model_base(config))


def create_evaluator(config: PipelineConfig, examples, model, baseline_model):
    """The node that evaluates and blesses the candidate, with node id ``Evaluator``.

    Classifiers: TFMA's Evaluator with ``eval_config``. Generative tasks: the
    GenerativeEvaluator (the VAE's reconstruction and ELBO against the mean image; the GAN's
    samples scored by the digits classifier), which writes the same ModelBlessing.
    """
    if not is_generative(config):
        from tfx.components.evaluator.component import Evaluator

        return Evaluator(examples=examples, model=model, baseline_model=baseline_model,
                         eval_config=eval_config(config))
    from components.generative_evaluator.component import GenerativeEvaluator
    from components.generative_evaluator.metrics import Thresholds

    e = config.evaluate
    thresholds = Thresholds(
        max_reconstruction_ratio=e.max_reconstruction_ratio, max_elbo_ratio=e.max_elbo_ratio,
        max_regression=e.max_regression, min_confidence=e.min_confidence,
        min_class_coverage=e.min_class_coverage, max_frechet_distance=e.max_frechet_distance,
    )
    generative = getattr(config.task_facts(), "GENERATIVE_KIND", "")
    return GenerativeEvaluator(
        examples=examples, model=model, baseline_model=baseline_model, task=config.task,
        thresholds=thresholds.to_json(),
        scorer_model=scorer_model_dir(config) if generative == "gan" else None,
        num_samples=e.num_samples, seed=config.train.seed,
    ).with_id("Evaluator")


def create_pipeline(config: PipelineConfig):
    """Builds the TFX pipeline for ``config``.

    Args:
      config: A validated config (``pipeline.config.load_config``).

    Returns:
      A ``tfx.orchestration.pipeline.Pipeline`` with the configured ML Metadata store
      (SQLite or MySQL) and Beam arguments (DirectRunner, Dataflow, Flink or Spark).
    """
    from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
    from tfx.components.example_gen.import_example_gen.component import ImportExampleGen
    from tfx.components.example_validator.component import ExampleValidator
    from tfx.components.schema_gen.component import SchemaGen
    from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
    from tfx.components.statistics_gen.component import StatisticsGen
    from tfx.components.trainer.component import Trainer
    from tfx.components.transform.component import Transform
    from tfx.components.tuner.component import Tuner
    from tfx.dsl.components.common import resolver
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy,
    )
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2
    from tfx.types import Channel, standard_artifacts

    from components.edge_export.component import EdgeExport
    from components.edge_pusher.component import EdgePusher
    from components.image_folder_example_gen.component import ImageFolderExampleGen
    from components.infra_validator.component import InfraValidator
    from components.pusher.component import Pusher
    from components.tfds_example_gen.component import TfdsExampleGen
    from components.validation_gate.component import ValidationGate
    from pipeline.ingest import CSV_KINDS, TFDS_SPLITS, image_shape, tfds_feature_map
    from pipeline.metadata import connection_config

    hash_split = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(
                    name="train", hash_buckets=config.ingest.train_buckets
                ),
                example_gen_pb2.SplitConfig.Split(
                    name="eval", hash_buckets=config.ingest.eval_buckets
                ),
            ]
        )
    )
    ingest = config.ingest
    if ingest.kind == "image_folder":
        task = config.task_facts()
        example_gen = ImageFolderExampleGen(
            input_base=str(config.data_dir), image_shape=image_shape(config),
            image_key=task.IMAGE_KEY, label_key=task.LABEL_KEY, output_config=hash_split,
        )
    elif ingest.kind in CSV_KINDS:
        example_gen = CsvExampleGen(
            input_base=str(config.data_dir),
            input_config=example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split",
                                                    pattern=config.input_pattern)]
            ),
            output_config=hash_split,
        )
    elif ingest.kind == "tfds":
        example_gen = TfdsExampleGen(
            dataset=ingest.tfds_name, splits=TFDS_SPLITS, version=ingest.tfds_version or None,
            data_dir=ingest.tfds_data_dir or None, feature_map=tfds_feature_map(config),
            download=ingest.tfds_download,
        )
    else:
        # With a {SPAN} pattern (ingest.path), ImportExampleGen's driver reads the newest
        # span and records it as the Examples artifact's `span` property.
        example_gen = ImportExampleGen(
            input_base=str(config.data_dir),
            input_config=example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split",
                                                    pattern=config.input_pattern)]
            ),
            output_config=hash_split,
        )
    examples = example_gen.outputs["examples"]
    statistics_gen = StatisticsGen(examples=examples)
    if config.validate.schema_file:
        schema_gen = ImportSchemaGen(schema_file=config.validate.schema_file)
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"],
            infer_feature_shape=True,
            exclude_splits=["eval"],
        )
    schema = schema_gen.outputs["schema"]
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    gate = ValidationGate(anomalies=example_validator.outputs["anomalies"])

    transform = Transform(
        examples=examples,
        schema=schema,
        preprocessing_fn=config.transform.preprocessing_fn,
    )
    transform.add_upstream_node(gate)

    train = config.train
    tuner = None
    if config.tune.enabled:
        tuner = Tuner(
            tuner_fn="models.tuning.tuner_fn",
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema,
            train_args=trainer_pb2.TrainArgs(num_steps=config.tune.trial_steps),
            eval_args=trainer_pb2.EvalArgs(num_steps=train.eval_steps),
            custom_config={
                "task": config.task,
                "builder": train.builder,
                "hparams": train.hparams,
                "search_space": config.tune.search_space,
                "max_trials": config.tune.max_trials,
                "objective": config.tune.objective,
                "batch_size": train.batch_size,
                "learning_rate": train.learning_rate,
                "seed": train.seed,
            },
        )
    trainer = Trainer(
        run_fn=train.run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        train_args=trainer_pb2.TrainArgs(num_steps=train.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=train.eval_steps),
        custom_config={
            "builder": train.builder,
            "hparams": train.hparams,
            "batch_size": train.batch_size,
            "learning_rate": train.learning_rate,
            "epochs": train.epochs,
            "seed": train.seed,
        },
    )

    baseline = resolver.Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    evaluator = create_evaluator(config, examples, trainer.outputs["model"],
                                 baseline.outputs["model"])

    infra_validator = None
    if config.infra_validate.enabled:
        infra_validator = InfraValidator(
            model=trainer.outputs["model"],
            examples=examples,
            num_examples=config.infra_validate.num_examples,
        )

    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"] if infra_validator else None,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=str(config.serving_model_dir)
            )
        ),
    )

    components = [example_gen, statistics_gen, schema_gen, example_validator, gate, transform,
                  *([tuner] if tuner else []), trainer, baseline, evaluator]
    components += [infra_validator, pusher] if infra_validator else [pusher]
    if config.edge.enabled:
        edge_export = EdgeExport(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            examples=examples,  # raw features: the edge signature takes raw input
            formats=",".join(config.edge.formats),
            int8_io=config.edge.int8_io,
            max_accuracy_drop=config.edge.max_accuracy_drop,
            label_key=config.task_facts().LABEL_KEY,
        )
        edge_pusher = EdgePusher(
            edge_models=edge_export.outputs["edge_models"],
            pushed_model=pusher.outputs["pushed_model"],
            edge_root=str(config.edge_root),
            model_name=config.push.model_name,
        )
        components += [edge_export, edge_pusher]

    return tfx_pipeline.Pipeline(
        pipeline_name=config.name,
        pipeline_root=str(config.pipeline_root),
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=connection_config(config),
        beam_pipeline_args=config.beam_args(),
    )
