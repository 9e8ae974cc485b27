"""GenerativeEvaluator executor: a Beam pipeline sums per-example statistics, then bless.

The Beam pipeline (the component's Beam arguments; DirectRunner by default) writes one
JSON object of sums (``metrics.STATS_FILE``); ``metrics.evaluate_stats`` turns them into
metrics and a verdict. Sums keep the work data-parallel: every worker loads the SavedModels
once (``DoFn.setup``) and emits sums per batch; one global combine adds them up.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from absl import logging
from tfx import types
from tfx.components.evaluator import constants
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.generative_evaluator import metrics
from components.generative_evaluator.scorer import resolve_scorer
from dlpipe.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
from models.generative import contract
from models.tasks.spec import Task

DEFAULT_NUM_SAMPLES = 1000
DEFAULT_BATCH_SIZE = 128


def _load(model_dir: str) -> Any:
    import tensorflow as tf

    return tf.saved_model.load(model_dir)


def _signature(loaded: Any, name: str, model_dir: str) -> Any:
    if name not in loaded.signatures:
        raise ValueError(f"The SavedModel {model_dir} has no signature {name!r}; it has "
                         f"{sorted(loaded.signatures)}.")
    return loaded.signatures[name]


class _EvaluateVae(beam.DoFn):
    """Batches of serialized examples -> sums of each model's ``evaluate`` outputs."""

    def __init__(self, models: dict[str, str]) -> None:
        self._models = models

    def setup(self) -> None:
        self._loaded = {group: _load(d) for group, d in self._models.items()}
        self._fns = {group: _signature(m, contract.EVALUATE_SIGNATURE, self._models[group])
                     for group, m in self._loaded.items()}

    def process(self, batch: list[bytes]) -> Iterator[dict[str, Any]]:
        import tensorflow as tf

        inputs = tf.constant(list(batch), dtype=tf.string)
        sums: dict[str, Any] = {}
        for group, fn in self._fns.items():
            out = fn(**{contract.EXAMPLES_INPUT: inputs})
            sums[f"{group}/count"] = len(batch)
            for name in contract.EVALUATE_OUTPUTS:
                sums[f"{group}/{name}"] = float(np.sum(out[name].numpy(), dtype=np.float64))
        yield sums


def _class_stats(group: str, probabilities: np.ndarray) -> dict[str, Any]:
    p = probabilities.astype(np.float64)
    return {
        f"{group}/count": len(p),
        f"{group}/confidence": float(p.max(axis=1).sum()),
        f"{group}/class_counts": np.bincount(p.argmax(axis=1), minlength=p.shape[1]),
        f"{group}/prob_sum": p.sum(axis=0),
        f"{group}/prob_outer": p.T @ p,
    }


class _Scorer:
    """The image classifier that scores samples: its ``serving_default`` takes raw images
    under the task's image feature name and returns ``probabilities``."""

    def __init__(self, model_dir: str, task: Task) -> None:
        self._loaded = _load(model_dir)
        self._fn = _signature(self._loaded, SERVING_SIGNATURE, model_dir)
        self._input, self._output = task.image, PROBABILITIES_OUTPUT

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._fn(**{self._input: tf.constant(images, tf.float32)})[self._output].numpy()


class _ScoreSamples(beam.DoFn):
    """A batch index -> that batch of noise through each generator, scored."""

    def __init__(self, models: dict[str, str], scorer_dir: str, task: dict,
                 num_samples: int, batch_size: int, seed: int) -> None:
        self._models, self._scorer_dir, self._task = models, scorer_dir, task
        self._num_samples, self._batch_size, self._seed = num_samples, batch_size, seed

    def setup(self) -> None:
        self._scorer = _Scorer(self._scorer_dir, Task.from_dict(self._task))
        self._loaded = {group: _load(d) for group, d in self._models.items()}
        self._fns = {group: _signature(m, contract.GENERATE_SIGNATURE, self._models[group])
                     for group, m in self._loaded.items()}

    def process(self, index: int) -> Iterator[dict[str, Any]]:
        import tensorflow as tf

        n = min(self._batch_size, self._num_samples - index * self._batch_size)
        for group, fn in self._fns.items():
            latent = fn.structured_input_signature[1][contract.NOISE_INPUT].shape[-1]
            # The same noise for every generator with this latent size (candidate, baseline).
            noise = np.random.default_rng([self._seed, index, latent]).standard_normal(
                (n, latent)).astype(np.float32)
            images = fn(**{contract.NOISE_INPUT: tf.constant(noise)})[contract.IMAGE].numpy()
            yield _class_stats(group, self._scorer(images))


class _ScoreReal(beam.DoFn):
    """Batches of serialized eval examples -> the classifier's statistics on real images."""

    def __init__(self, scorer_dir: str, task: dict) -> None:
        self._scorer_dir, self._task_dict = scorer_dir, task

    def setup(self) -> None:
        self._task = Task.from_dict(self._task_dict)
        self._scorer = _Scorer(self._scorer_dir, self._task)

    def process(self, batch: list[bytes]) -> Iterator[dict[str, Any]]:
        import tensorflow as tf

        task = self._task
        parsed = tf.io.parse_example(
            tf.constant(list(batch), tf.string),
            {task.image: tf.io.FixedLenFeature([task.image_size], tf.float32)})
        images = parsed[task.image].numpy().reshape(-1, *task.image_shape)
        yield _class_stats(metrics.REAL, self._scorer(images))


class _SumStats(beam.CombineFn):
    """Adds dicts of numbers and numpy arrays key by key."""

    def create_accumulator(self) -> dict[str, Any]:
        return {}

    def add_input(self, acc: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
        for key, value in stats.items():
            acc[key] = acc[key] + value if key in acc else value
        return acc

    def merge_accumulators(self, accs: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for acc in accs:
            self.add_input(merged, acc)
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return acc


def _to_json(stats: dict[str, Any]) -> str:
    return json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v
                       for k, v in sorted(stats.items())})


def _write(text: str, path: str) -> None:
    io_utils.write_string_file(path, text)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Computes the generative metrics with Beam and writes evaluation and blessing."""

    def Do(  # noqa: N802 (TFX's method name)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        task_dict = json.loads(exec_properties["task"])
        kind = Task.from_dict(task_dict).kind
        if kind not in contract.KINDS:
            raise ValueError(f"The GenerativeEvaluator evaluates task kinds {contract.KINDS}. "
                             f"Received: task.kind={kind!r}")
        thresholds = metrics.Thresholds.from_json(exec_properties["thresholds"])
        split = exec_properties.get("split") or "eval"
        batch_size = int(exec_properties.get("batch_size") or DEFAULT_BATCH_SIZE)

        model = artifact_utils.get_single_instance(input_dict["model"])
        models = {metrics.CANDIDATE: _model_dir(model)}
        baselines = input_dict.get("baseline_model") or []
        baseline = baselines[0] if baselines else None
        needed = contract.EVALUATE_SIGNATURE if kind == contract.VAE else \
            contract.GENERATE_SIGNATURE
        if baseline is not None and needed not in _signature_names(_model_dir(baseline)):
            # e.g. the pipeline's task changed kind: nothing comparable to compare with.
            logging.warning("The latest blessed model %s has no %r signature; evaluating "
                            "without a baseline.", baseline.uri, needed)
            baseline = None
        if baseline is not None:
            models[metrics.BASELINE] = _model_dir(baseline)
        examples = artifact_utils.get_split_uri(input_dict["examples"], split)
        pattern = os.path.join(examples, "*")
        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        stats_path = os.path.join(evaluation.uri, metrics.STATS_FILE)

        scorer_dir = ""
        if kind == contract.GAN:
            scorer_dir = str(resolve_scorer(exec_properties.get("scorer_model") or ""))
        with self._make_beam_pipeline() as p:
            records = (p | "ReadExamples" >> beam.io.ReadFromTFRecord(
                           pattern, coder=beam.coders.BytesCoder())
                         | "BatchExamples" >> beam.BatchElements(
                             min_batch_size=batch_size, max_batch_size=batch_size))
            if kind == contract.VAE:
                stats = records | "EvaluateVae" >> beam.ParDo(_EvaluateVae(models))
            else:
                num_samples = int(exec_properties.get("num_samples") or DEFAULT_NUM_SAMPLES)
                seed = int(exec_properties.get("seed") or 0)
                batches = math.ceil(num_samples / batch_size)
                samples = (p | "SampleBatches" >> beam.Create(list(range(batches)))
                             | "GenerateAndScore" >> beam.ParDo(_ScoreSamples(
                                 models, scorer_dir, task_dict, num_samples, batch_size, seed)))
                real = records | "ScoreReal" >> beam.ParDo(_ScoreReal(scorer_dir, task_dict))
                stats = (samples, real) | "Flatten" >> beam.Flatten()
            _ = (stats
                 | "Sum" >> beam.CombineGlobally(_SumStats())
                 | "ToJson" >> beam.Map(_to_json)
                 | "Write" >> beam.Map(_write, stats_path))

        result = metrics.evaluate_stats(kind, json.loads(io_utils.read_string_file(stats_path)),
                                        thresholds)
        result.update(split=split, thresholds=json.loads(thresholds.to_json()),
                      model=models[metrics.CANDIDATE],
                      baseline_model=models.get(metrics.BASELINE), scorer_model=scorer_dir)
        io_utils.write_string_file(os.path.join(evaluation.uri, metrics.METRICS_FILE),
                                   json.dumps(result, indent=1))
        self._bless(output_dict, model, baseline, exec_properties, result)

    @staticmethod
    def _bless(output_dict: dict[str, list[types.Artifact]], model: types.Artifact,
               baseline: types.Artifact | None, exec_properties: dict[str, Any],
               result: dict[str, Any]) -> None:
        """Writes the ModelBlessing exactly as TFX's Evaluator does."""
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                            model.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY,
                                         model.id)
        if baseline is not None:
            blessing.set_string_custom_property(
                constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
            blessing.set_int_custom_property(
                constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)
        if "current_component_id" in exec_properties:
            blessing.set_string_custom_property(
                "component_id", exec_properties["current_component_id"])
        blessed = bool(result["blessed"])
        io_utils.write_string_file(os.path.join(
            blessing.uri,
            constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME), "")
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSED_KEY,
            constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE)
        logging.info("GenerativeEvaluator: %s (%s)", "blessed" if blessed else "NOT blessed",
                     result["reason"])


def _signature_names(model_dir: str) -> set[str]:
    """Signature keys of a SavedModel, read from saved_model.pb without loading it."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString(
        io_utils.read_bytes_file(os.path.join(model_dir, "saved_model.pb")))
    return {key for graph in proto.meta_graphs for key in graph.signature_def}


def _model_dir(model: types.Artifact) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
