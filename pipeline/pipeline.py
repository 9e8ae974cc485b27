"""The TFX pipeline factory: wiring only.

``create_pipeline`` turns a validated config and its resolved task into a TFX ``Pipeline``.
It imports no model code: Transform, Trainer and Tuner get their functions by dotted path
and the task through their ``custom_config``, so one ``preprocessing_fn`` and one ``run_fn``
serve every dataset of a kind. Every orchestrator runs what this returns: the local runner
(``pipeline.runner``), Airflow and Kubeflow Pipelines / Vertex (``pipeline.orchestrators``).

ExampleGen (per ingest kind) -> StatisticsGen -> SchemaGen + SchemaCurator / ImportSchemaGen
  -> ExampleValidator -> ValidationGate -> Transform -> [Tuner] -> Trainer
  -> Evaluator (TFMA, or the GenerativeEvaluator for vae/gan; vs the latest blessed model)
  -> InfraValidator (embedded server, REST + gRPC) -> Pusher
  -> EdgeExport (TFLite, ONNX; each checked against the SavedModel) -> EdgePusher
"""

from __future__ import annotations

import json
from typing import Any

from models.tasks.spec import RECALL, Task
from pipeline.beam.options import pipeline_args
from pipeline.config import PipelineConfig
from pipeline.evaluation import create_evaluator

PREPROCESSING_FN = "models.tasks.transform.preprocessing_fn"
RUN_FN = "models.tasks.trainer.run_fn"
TUNER_FN = "models.tasks.tuner.tuner_fn"


def trainer_config(config: PipelineConfig, task: Task) -> dict[str, Any]:
    """What the Trainer's and Tuner's ``custom_config`` carry (``models.training``)."""
    t = config.train
    train = {"batch_size": t.batch_size, "learning_rate": t.learning_rate, "epochs": t.epochs,
             "seed": t.seed}
    if t.distribution != "none":  # absent by default: earlier runs' Trainer cache still holds
        train.update(distribution=t.distribution, cpu_devices=t.cpu_devices)
    return {
        "task": task.to_dict(),
        "model": {"builder": config.model.builder, "hparams": config.model.hparams},
        "train": train,
    }


def tune_objective(config: PipelineConfig, task: Task) -> str:
    """The Keras metric the Tuner optimizes (``tune.objective``, or the kind's default)."""
    if config.tune.objective:
        return config.tune.objective
    if task.is_regression:
        return "val_mean_absolute_error"
    if task.is_retrieval:
        return f"val_{RECALL}"
    return "val_sparse_categorical_accuracy"


def create_pipeline(config: PipelineConfig, task: Task,
                    tfds_feature_map: dict[str, str] | None = None) -> Any:
    """Builds the TFX pipeline for ``config``.

    Args:
      config: A validated config (``pipeline.config.load_config``).
      task: Its task, resolved against the data (``pipeline.tasks.prepare``).
      tfds_feature_map: For ``ingest.kind: tfds``: TFDS feature -> example feature (the
        source check's); None: the dataset's own names.

    Returns:
      A ``tfx.orchestration.pipeline.Pipeline`` with the configured ML Metadata store
      (SQLite or MySQL) and Beam arguments (DirectRunner, a portable job service, Dataflow,
      Flink or Spark; dlpipe's wheel staged for workers in other processes).
    """
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
    from tfx.proto import pusher_pb2, trainer_pb2
    from tfx.types import Channel, standard_artifacts

    from components.edge_export.component import EdgeExport
    from components.edge_pusher.component import EdgePusher
    from components.infra_validator.component import InfraValidator
    from components.pusher.component import Pusher
    from components.schema_curator.component import SchemaCurator
    from components.validation_gate.component import ValidationGate
    from pipeline.ingest import example_gen
    from pipeline.metadata import connection_config

    task_json = json.dumps(task.to_dict())
    gen = example_gen(config, task, tfds_feature_map)
    examples = gen.outputs["examples"]
    statistics_gen = StatisticsGen(examples=examples)
    components = [gen, statistics_gen]
    if config.validate.schema_file:
        schema_gen = ImportSchemaGen(schema_file=config.validate.schema_file)
        schema = schema_gen.outputs["schema"]
        components.append(schema_gen)
    else:
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                               infer_feature_shape=True, exclude_splits=["eval"])
        curator = SchemaCurator(schema=schema_gen.outputs["schema"], task=task_json)
        schema = curator.outputs["curated_schema"]
        components += [schema_gen, curator]
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema)
    gate = ValidationGate(anomalies=example_validator.outputs["anomalies"])

    transform = Transform(examples=examples, schema=schema,
                          preprocessing_fn=PREPROCESSING_FN,
                          custom_config={"task": task.to_dict()})
    transform.add_upstream_node(gate)
    components += [example_validator, gate, transform]

    train = config.train
    custom = trainer_config(config, task)
    tuner = None
    if config.tune.enabled:
        tune = config.tune
        tuner = Tuner(
            tuner_fn=TUNER_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema,
            train_args=trainer_pb2.TrainArgs(num_steps=tune.trial_steps),
            eval_args=trainer_pb2.EvalArgs(num_steps=train.eval_steps),
            custom_config={**custom, "tune": {
                "search_space": tune.search_space, "max_trials": tune.max_trials,
                "objective": tune_objective(config, task)}},
        )
        components.append(tuner)
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        train_args=trainer_pb2.TrainArgs(num_steps=train.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=train.eval_steps),
        custom_config=custom,
    )
    baseline = resolver.Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = create_evaluator(config, task, examples, trainer.outputs["model"],
                                 baseline.outputs["model"])
    components += [trainer, baseline, evaluator]

    infra_validator = None
    if config.infra_validate.enabled:
        infra_validator = InfraValidator(model=trainer.outputs["model"], examples=examples,
                                         num_examples=config.infra_validate.num_examples)
        components.append(infra_validator)
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"] if infra_validator else None,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=str(config.serving_model_dir))),
    )
    components.append(pusher)
    if config.edge.enabled:
        edge_export = EdgeExport(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            examples=examples,  # raw features: the edge signature takes raw input
            formats=",".join(config.edge.formats),
            int8_io=config.edge.int8_io,
            max_accuracy_drop=config.edge.max_accuracy_drop,
            label_key=task.label,
            # Empty strings stay unset: the executor's "not stated" defaults apply.
            author=config.edge.author or None,
            license=config.edge.license or None,
            rgb_input=config.edge.rgb_input,
        )
        edge_pusher = EdgePusher(
            edge_models=edge_export.outputs["edge_models"],
            pushed_model=pusher.outputs["pushed_model"],
            edge_root=str(config.edge_root),
            model_name=config.model_name,
        )
        components += [edge_export, edge_pusher]

    return tfx_pipeline.Pipeline(
        pipeline_name=config.name,
        pipeline_root=str(config.pipeline_root),
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=connection_config(config),
        beam_pipeline_args=pipeline_args(config),
    )
