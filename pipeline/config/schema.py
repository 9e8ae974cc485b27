"""The config's schema: one frozen dataclass per section, each field with its help text.

``dlpipe config --keys`` prints every key with its default and help. Loading and checking
are ``pipeline.config.loader`` and ``pipeline.config.checks``; derived locations are
``pipeline.config.paths``. This module imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dlpipe.settings import setting
from models.tasks.spec import TaskSpec
from pipeline.config import paths
from pipeline.ingest.kinds import KINDS as INGEST_KINDS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits_cnn.yaml"


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    kind: str = setting(
        "sklearn_digits",
        "Where examples come from: "
        + "; ".join(f"'{k.name}': {k.help}" for k in INGEST_KINDS.values()) + ".",
        choices=tuple(INGEST_KINDS),
    )
    path: str = setting(
        "",
        "Input directory. For the bundled kinds it is where their files are written "
        "(default: <output_root>/data/<kind>); for 'csv' it must hold *.csv files; for "
        "'image_folder' one subfolder per class; for 'tfrecord' *.tfrecord or "
        "*.tfrecord.gz files, or a span pattern such as '/data/digits/span-{SPAN}' or "
        "'/data/digits/span-{SPAN}/*.tfrecord.gz': each run then reads the newest span only "
        "(TFX's {SPAN} input pattern; ImportExampleGen's driver picks the span).",
    )
    tfds_name: str = setting("", "For 'tfds': the dataset, e.g. 'mnist' or 'cifar10'.")
    tfds_version: str = setting("", "For 'tfds': dataset version (empty: the newest).")
    tfds_data_dir: str = setting(
        "", "For 'tfds': data_dir holding the prepared dataset (empty: TFDS's default)."
    )
    tfds_download: bool = setting(
        False, "For 'tfds': let TFDS download and prepare a dataset missing from data_dir "
        "(needs internet; off, a missing dataset fails at once, saying how to provide it)."
    )
    train_buckets: int = setting(4, "Hash buckets assigned to the train split.", minimum=1)
    eval_buckets: int = setting(1, "Hash buckets assigned to the eval split.", minimum=1)


@dataclasses.dataclass(frozen=True)
class ValidateConfig:
    schema_file: str = setting(
        "",
        "Curated schema (text-format tensorflow_metadata Schema); a relative path is taken "
        "from the config file's directory. Empty: SchemaGen infers the schema from the "
        "train split's statistics on every run.",
    )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    builder: str = setting(
        "",
        "The model: a zoo name (cnn, mlp, lstm, gru, transformer, vae, gan), a function of "
        "task.module_file, or a dotted path. Empty: the task kind's default (images: cnn, "
        "tables: mlp, text: lstm, vae: vae, gan: gan).",
    )
    hparams: dict = setting(
        None,
        "Keyword arguments for the builder; each key must be a parameter of it "
        "(`dlpipe config --keys` lists none: see the builder's docstring).",
        default_factory=dict,
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    train_steps: int = setting(300, "Training steps.", minimum=1)
    eval_steps: int = setting(10, "Validation steps after each epoch.", minimum=1)
    epochs: int = setting(3, "Epochs the training steps are spread over.", minimum=1)
    batch_size: int = setting(64, "Batch size.", minimum=1)
    learning_rate: float = setting(3e-3, "Adam learning rate.", minimum=0.0, exclusive=True)
    seed: int = setting(7, "Random seed for weights and shuffling.")
    distribution: str = setting(
        "none",
        "Classifiers and regressors: 'mirrored' trains under tf.distribute.MirroredStrategy "
        "over this host's GPUs (or train.cpu_devices logical CPUs without GPUs), each batch "
        "split across them. Several hosts are not supported (Keras 3 fails under "
        "MultiWorkerMirroredStrategy: keras-team/keras#20585).",
        choices=("none", "mirrored"),
    )
    cpu_devices: int = setting(
        0, "train.distribution 'mirrored' on a host without GPUs: logical CPU devices to "
        "mirror over (0: one).", minimum=0,
    )


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    enabled: bool = setting(
        False, "Run TFX's Tuner (KerasTuner random search) before the Trainer; the Trainer "
        "then trains with the best values found."
    )
    search_space: dict = setting(
        None,
        "Hyperparameter -> list of candidate values (scalars). Each key must be a parameter "
        "of model.builder, or 'learning_rate'. Keys not listed keep model.hparams' values.",
        default_factory=dict,
    )
    max_trials: int = setting(4, "Trials (models built and trained) in the search.", minimum=1)
    trial_steps: int = setting(100, "Training steps per trial.", minimum=1)
    objective: str = setting(
        "", "Keras metric the search optimizes on the eval split. Empty: "
        "val_sparse_categorical_accuracy for classifiers, "
        "val_mean_absolute_error for regressors, val_recall_at_k for retrieval. Loss and "
        "error metrics (names ending in loss, error, mae, mse, crossentropy) are minimized, "
        "all others maximized."
    )


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    min_accuracy: float = setting(
        0.85, "Value threshold: a model below this eval accuracy is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    min_class_accuracy: float = setting(
        0.7, "Per-class value threshold: a model with any class below this is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    max_accuracy_drop: float = setting(
        0.01,
        "Change threshold: a model whose accuracy is more than this below the latest "
        "blessed model's is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    # Regressors (task.kind tabular_regression): TFMA's mean absolute and squared errors.
    max_mae: float = setting(
        0.0,
        "Regression: a model whose eval mean absolute error (label units) is above this is "
        "not blessed; 0: not checked.",
        minimum=0.0,
    )
    max_rmse: float = setting(
        0.0,
        "Regression: a model whose eval root mean squared error (label units) is above this "
        "is not blessed; 0: not checked.",
        minimum=0.0,
    )
    # Retrieval (task.kind retrieval): TFMA's recall@k (top-k categorical accuracy).
    min_recall: float = setting(
        0.0,
        "Retrieval: a model whose recall@k on the eval interactions (the held-out item among "
        "the k recommended, k = task.top_k) is below this is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    max_recall_drop: float = setting(
        0.02,
        "Retrieval: a model whose recall@k is more than this below the latest blessed "
        "model's is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    # Generative kinds (task.kind vae or gan): the GenerativeEvaluator
    # (components/generative_evaluator) blesses them instead of TFMA.
    max_reconstruction_ratio: float = setting(
        0.6,
        "VAE: blessed only if the mean reconstruction error on the eval split is <= this "
        "times the error of the mean-image baseline (the train split's mean image).",
        minimum=0.0, exclusive=True,
    )
    max_elbo_ratio: float = setting(
        1.0,
        "VAE: blessed only if the negative ELBO on the eval split is <= this times the NLL "
        "of the mean-image baseline (independent Bernoulli pixels with the mean image as "
        "probabilities).",
        minimum=0.0, exclusive=True,
    )
    max_regression: float = setting(
        0.1,
        "Regression, VAE and GAN: blessed only if no more than this fraction worse than the "
        "latest blessed model (regression: mean absolute error; VAE: reconstruction error; "
        "GAN: mean confidence and class coverage).",
        minimum=0.0,
    )
    scorer_model: str = setting(
        "",
        "GAN: the image classifier that scores the samples: a served model directory "
        "(its newest numeric version is used) or a SavedModel directory. Relative paths are "
        "taken under the serving root ('digits': what the digits_cnn pipeline pushes).",
    )
    num_samples: int = setting(1000, "GAN: samples generated and scored.", minimum=1)
    min_confidence: float = setting(
        0.7, "GAN: blessed only if the scorer's mean top-class probability on the samples "
        "is >= this.", minimum=0.0, maximum=1.0,
    )
    min_class_coverage: float = setting(
        0.5,
        "GAN: blessed only if this fraction of the classes is covered: each is the scorer's "
        "top class for at least half its uniform share of the samples.",
        minimum=0.0, maximum=1.0,
    )
    max_frechet_distance: float = setting(
        0.0,
        "GAN: blessed only if the Frechet distance between the scorer's outputs on samples "
        "and on eval images is <= this; 0: reported, not checked.",
        minimum=0.0,
    )


@dataclasses.dataclass(frozen=True)
class PushConfig:
    model_name: str = setting(
        "", "Name of the served model (its directory name). Empty: the pipeline name."
    )
    serving_root: str = setting(
        "", "Serving root; models land in <serving_root>/<model_name>/<version>/. "
        "Default: <output_root>/serving."
    )


@dataclasses.dataclass(frozen=True)
class InfraValidateConfig:
    enabled: bool = setting(
        True, "Load the candidate in the embedded model server and query it over REST and "
        "gRPC before pushing; the Pusher requires this blessing."
    )
    num_examples: int = setting(32, "Eval examples sent to the server.", minimum=1)


@dataclasses.dataclass(frozen=True)
class EdgeConfig:
    enabled: bool = setting(True, "Convert the blessed model to TFLite/ONNX and push them.")
    formats: list = setting(
        None,
        "Formats to produce: float32, float16, dynamic_range, int8, onnx.",
        default_factory=lambda: ["float32", "float16", "dynamic_range", "int8", "onnx"],
    )
    int8_io: str = setting(
        "float32", "Tensor type of the int8 model's input and output.",
        choices=("float32", "int8", "uint8"),
    )
    max_accuracy_drop: float = setting(
        0.01, "Accuracy drop allowed for quantized formats (int8 gate).",
        minimum=0.0, maximum=1.0,
    )
    edge_root: str = setting(
        "", "Edge models land in <edge_root>/<model_name>/<version>/. "
        "Default: <output_root>/edge."
    )
    author: str = setting(
        "", "Author written into each .tflite's TFLite metadata (apps and Android Studio "
        "show it). Empty: 'not stated'."
    )
    license: str = setting(
        "", "License written into each .tflite's TFLite metadata, e.g. 'Apache-2.0'. "
        "Empty: 'not stated'."
    )
    rgb_input: bool = setting(
        False,
        "Image classifiers with 1 channel (grey): the TFLite and ONNX files take [1, H, W, 3] "
        "RGB and make it grey inside the graph, as the TFLite Task Library's ImageClassifier "
        "needs (it takes only RGB). Refused for other task kinds and for 3-channel images.",
    )


BEAM_RUNNERS = ("DirectRunner", "PortableRunner", "DataflowRunner", "FlinkRunner",
                "SparkRunner")
ENVIRONMENT_TYPES = ("DOCKER", "PROCESS", "EXTERNAL", "LOOPBACK")


@dataclasses.dataclass(frozen=True)
class BeamConfig:
    runner: str = setting(
        "DirectRunner",
        "Beam runner of the data-parallel components (ExampleGen, StatisticsGen, Transform, "
        "Evaluator): DirectRunner (this machine), PortableRunner (a Beam job service: "
        "beam.job_endpoint and beam.environment_type; Beam's local job service, or Flink's "
        "or Spark's job server), DataflowRunner (needs beam.project, beam.region, "
        "beam.temp_location), FlinkRunner (needs beam.flink_master), SparkRunner (needs "
        "beam.spark_master_url).",
        choices=BEAM_RUNNERS,
    )
    direct_num_workers: int = setting(
        1, "DirectRunner: parallel workers (0: one per core).", minimum=0
    )
    direct_running_mode: str = setting(
        "in_memory", "DirectRunner: in_memory (one process), multi_threading, or "
        "multi_processing (one worker process each; they import this environment's dlpipe).",
        choices=("in_memory", "multi_threading", "multi_processing"),
    )
    job_endpoint: str = setting(
        "", "PortableRunner (and Flink/Spark): the job service, host:port, e.g. "
        "'localhost:8099'."
    )
    job_server_timeout: int = setting(
        86400,
        "PortableRunner (and Flink/Spark): seconds the driver follows a job's state and "
        "messages on the job service. Beam's own default, 60, ends any Beam job that runs "
        "longer than a minute with DEADLINE_EXCEEDED.",
        minimum=1,
    )
    project: str = setting("", "DataflowRunner: Google Cloud project id.")
    region: str = setting("", "DataflowRunner: region, e.g. 'europe-west1'.")
    temp_location: str = setting(
        "", "DataflowRunner: a gs:// path for temporary and staging files."
    )
    flink_master: str = setting("", "FlinkRunner: the Flink JobManager, host:port.")
    spark_master_url: str = setting(
        "", "SparkRunner: the Spark master, e.g. 'spark://host:7077'."
    )
    environment_type: str = setting(
        "",
        "Portable/Flink/Spark: where the Python SDK workers run: EXTERNAL (a worker pool, "
        "beam.environment_config = its host:port; `dlpipe beam-worker-pool` runs one), "
        "PROCESS (a command the runner starts per worker; default dlpipe-beam-boot), DOCKER "
        "(beam.sdk_container_image) or LOOPBACK (this process; local tests only). "
        "PortableRunner needs it; empty: Flink's or Spark's default.",
        choices=("", *ENVIRONMENT_TYPES),
    )
    environment_config: str = setting(
        "", "The environment's config: EXTERNAL: the worker pool's host:port; PROCESS: the "
        "command's path, or Beam's JSON {\"command\": ...} (empty: dlpipe-beam-boot beside "
        "this Python)."
    )
    sdk_container_image: str = setting(
        "",
        "Dataflow/Portable/Flink/Spark: the worker image; it must hold the locked "
        "dependencies and start the SDK harness (the Dockerfile's beam-worker target).",
    )
    stage_wheel: bool = setting(
        True,
        "Runners with workers in other processes (all but DirectRunner and LOOPBACK): build "
        "dlpipe's wheel from this source tree and stage it (--extra_package), so the workers "
        "install and run the driver's code, as Dataflow, Flink and Spark workers do. Off: "
        "the workers' image already holds the same dlpipe.",
    )
    extra_args: list = setting(
        None, "Further Beam pipeline arguments, passed as given (e.g. --setup_file, "
        "--requirements_file).", default_factory=list
    )


@dataclasses.dataclass(frozen=True)
class MetadataConfig:
    store: str = setting(
        "sqlite",
        "ML Metadata store: 'sqlite' (a file under the output root) or 'mysql' (a MySQL or "
        "MariaDB server a team shares).",
        choices=("sqlite", "mysql"),
    )
    sqlite_path: str = setting(
        "", "SQLite file. Default: <output_root>/metadata/<name>.sqlite."
    )
    host: str = setting("", "MySQL host.")
    port: int = setting(3306, "MySQL port.", minimum=1, maximum=65535)
    database: str = setting("", "MySQL database (created by ML Metadata if missing).")
    user: str = setting("", "MySQL user.")
    password_env: str = setting(
        "",
        "Name of the environment variable holding the MySQL password (the password "
        "itself is never put in a config file). Empty: no password.",
    )


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    cron: str = setting(
        "", "Default schedule of 'dlpipe schedule' and the exports: a 5-field crontab line "
        "such as '0 3 * * *' (server local time)."
    )
    every: str = setting(
        "", "Default schedule as an interval: a number and a unit, e.g. '30s', '15m', '6h', "
        "'1d'. Exclusive with schedule.cron."
    )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    name: str = setting("digits_cnn", "Pipeline name (also names the MLMD context).")
    output_root: str = setting(
        "runs", "Directory holding the pipeline root, ML Metadata and the serving root."
    )
    enable_cache: bool = setting(True, "Reuse executions whose inputs did not change.")
    task: TaskSpec = setting(None, "The task: what the data is and what the model does.",
                             default_factory=TaskSpec)
    model: ModelConfig = setting(None, "The model builder.", default_factory=ModelConfig)
    ingest: IngestConfig = setting(None, "Ingest.", default_factory=IngestConfig)
    validate: ValidateConfig = setting(None, "Validation.", default_factory=ValidateConfig)
    train: TrainConfig = setting(None, "Training.", default_factory=TrainConfig)
    tune: TuneConfig = setting(None, "Hyperparameter search.", default_factory=TuneConfig)
    evaluate: EvaluateConfig = setting(None, "Evaluation.", default_factory=EvaluateConfig)
    infra_validate: InfraValidateConfig = setting(
        None, "Infra validation.", default_factory=InfraValidateConfig
    )
    push: PushConfig = setting(None, "Push.", default_factory=PushConfig)
    edge: EdgeConfig = setting(None, "Edge export.", default_factory=EdgeConfig)
    beam: BeamConfig = setting(None, "Beam options.", default_factory=BeamConfig)
    metadata: MetadataConfig = setting(
        None, "ML Metadata store.", default_factory=MetadataConfig
    )
    schedule: ScheduleConfig = setting(
        None, "Schedule for 'dlpipe schedule' and 'dlpipe export'.",
        default_factory=ScheduleConfig,
    )

    # Derived locations: pipeline.config.paths computes them.
    @property
    def root(self) -> Path:
        return paths.root(self)

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline" / self.name

    @property
    def metadata_path(self) -> Path:
        """The SQLite metadata file (``metadata.store: sqlite``)."""
        return paths.metadata_path(self)

    @property
    def metadata_location(self) -> str:
        """Where ML Metadata lives, for people: a file path or ``mysql://user@host:port/db``."""
        return paths.metadata_location(self)

    @property
    def model_name(self) -> str:
        """The served model's name: ``push.model_name``, else the pipeline name."""
        return self.push.model_name or self.name

    @property
    def serving_root(self) -> Path:
        return paths.serving_root(self)

    @property
    def serving_model_dir(self) -> Path:
        return self.serving_root / self.model_name

    @property
    def edge_root(self) -> Path:
        return paths.edge_root(self)

    @property
    def data_dir(self) -> Path:
        """The input directory; for a span pattern, the fixed part before the first ``{SPAN}``."""
        return paths.data_dir(self)

    @property
    def input_pattern(self) -> str:
        """ExampleGen's split pattern, relative to ``data_dir``."""
        return paths.input_pattern(self)

    @property
    def uses_spans(self) -> bool:
        return paths.SPAN_SPEC in self.input_pattern

    def beam_args(self) -> list[str]:
        """Beam pipeline arguments for the configured runner (see ``BeamConfig``)."""
        beam = self.beam
        args = [f"--runner={beam.runner}"]
        if beam.runner == "DirectRunner":
            args += [f"--direct_num_workers={beam.direct_num_workers}",
                     f"--direct_running_mode={beam.direct_running_mode}"]
        elif beam.runner == "DataflowRunner":
            args += [f"--project={beam.project}", f"--region={beam.region}",
                     f"--temp_location={beam.temp_location}"]
        elif beam.runner == "FlinkRunner":
            args += [f"--flink_master={beam.flink_master}"]
        elif beam.runner == "SparkRunner":
            args += [f"--spark_master_url={beam.spark_master_url}"]
        if beam.runner != "DirectRunner":
            for flag in ("job_endpoint", "environment_type", "sdk_container_image"):
                if getattr(beam, flag):
                    args.append(f"--{flag}={getattr(beam, flag)}")
            if beam.environment_config or beam.environment_type == "PROCESS":
                args.append(f"--environment_config={paths.environment_config(beam)}")
            if beam.runner != "DataflowRunner":  # the portable runners (Flink, Spark too)
                args.append(f"--job_server_timeout={beam.job_server_timeout}")
        return [*args, *beam.extra_args]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
