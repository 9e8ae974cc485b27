"""The model zoo by name: ``model.builder: cnn`` instead of a dotted path.

A name maps to a pure builder and the hyperparameters the name implies (``lstm`` is
``build_rnn_classifier`` with ``cell="lstm"``), and says which task kinds it fits. A config may
also name a builder by dotted path (``models.cnn.build_cnn``) or a function of its
``task.module_file``. Nothing here imports Keras until a builder is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from models.tasks import spec as task_spec

_SUPERVISED = (*task_spec.CLASSIFICATION_KINDS, task_spec.TABULAR_REGRESSION)
_SEQUENCES = (task_spec.IMAGE_CLASSIFICATION, task_spec.TEXT_CLASSIFICATION,
              task_spec.AUDIO_CLASSIFICATION)


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """A builder by name: its dotted path, the hparams the name fixes, the kinds it fits."""

    path: str
    kinds: tuple[str, ...]
    preset: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


ZOO: dict[str, ZooEntry] = {
    "cnn": ZooEntry("models.cnn.build_cnn",
                    (task_spec.IMAGE_CLASSIFICATION, task_spec.AUDIO_CLASSIFICATION),
                    description="convolutional network over images or spectrograms"),
    "mlp": ZooEntry("models.mlp.build_mlp",
                    (*task_spec.TABULAR_KINDS, task_spec.IMAGE_CLASSIFICATION,
                     task_spec.AUDIO_CLASSIFICATION),
                    description="multilayer perceptron over a feature vector (images and "
                                "spectrograms flattened)"),
    "lstm": ZooEntry("models.sequence.build_rnn_classifier", _SEQUENCES, {"cell": "lstm"},
                     "LSTM over token ids, or over an image's rows"),
    "gru": ZooEntry("models.sequence.build_rnn_classifier", _SEQUENCES, {"cell": "gru"},
                    "GRU over token ids, or over an image's rows"),
    "transformer": ZooEntry("models.sequence.build_transformer_classifier", _SEQUENCES,
                            description="Transformer encoder over token ids or image rows"),
    "two_tower": ZooEntry("models.retrieval.build_two_tower", (task_spec.RETRIEVAL,),
                          description="user and item embedding towers, in-batch softmax"),
    "vae": ZooEntry("models.vae.build_vae", (task_spec.VAE,),
                    description="variational autoencoder"),
    "gan": ZooEntry("models.gan.build_gan", (task_spec.GAN,), description="DCGAN"),
}
DEFAULT_BUILDER = {
    task_spec.IMAGE_CLASSIFICATION: "cnn",
    task_spec.TABULAR_CLASSIFICATION: "mlp",
    task_spec.TABULAR_REGRESSION: "mlp",
    task_spec.TEXT_CLASSIFICATION: "lstm",
    task_spec.AUDIO_CLASSIFICATION: "cnn",
    task_spec.RETRIEVAL: "two_tower",
    task_spec.VAE: "vae",
    task_spec.GAN: "gan",
}
"""The builder of each kind when ``model.builder`` is empty."""

USER_MODULE = "dlpipe_user_module"
"""The name a ``task.module_file`` is imported under."""


class BuilderError(ValueError):
    """A builder that cannot be found or does not fit the task (the message says why)."""


def module_sha256(path: str | Path) -> str:
    """The content hash of a user module (part of the components' cache keys)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_user_module(path: str | Path) -> ModuleType:
    """Imports a ``task.module_file`` by path (no PYTHONPATH), once per process and content.

    Raises:
      BuilderError: the file is missing or fails to import (the cause is named).
    """
    path = Path(path)
    if not path.is_file():
        raise BuilderError(f"'task.module_file' is {str(path)!r}, which does not exist. Expected a "
                           f"Python file.")
    name = f"{USER_MODULE}_{module_sha256(path)[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - whatever the user's code raised, named
        raise BuilderError(f"'task.module_file' is {str(path)!r}, which failed to import: "
                           f"{type(e).__name__}: {e}") from e
    sys.modules[name] = module
    return module


def user_function(module_file: str, name: str) -> Callable | None:
    """``name`` from the user module, or None (no module, or it does not define it)."""
    if not module_file:
        return None
    fn = getattr(load_user_module(module_file), name, None)
    return fn if callable(fn) else None


def builder_name(builder: str, kind: str) -> str:
    """The configured builder, or the kind's default when empty."""
    return builder or DEFAULT_BUILDER[kind]


def load_builder(builder: str, kind: str, module_file: str = ""
                 ) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The builder function named by ``builder`` and the hparams its name presets.

    Args:
      builder: A zoo name, a function of ``module_file``, or a dotted path; empty: the
        kind's default.
      kind: The task kind (a zoo builder must fit it).
      module_file: The user module, if any.

    Raises:
      BuilderError: unknown name, not importable, or a zoo builder for another kind.
    """
    name = builder_name(builder, kind)
    if name in ZOO:
        entry = ZOO[name]
        if kind not in entry.kinds:
            fits = sorted(n for n, e in ZOO.items() if kind in e.kinds)
            raise BuilderError(
                f"'model.builder' is {name!r} ({entry.description}), which does not fit "
                f"task.kind {kind!r}. Expected one of: {', '.join(fits)}."
            )
        return _import(entry.path), dict(entry.preset)
    fn = user_function(module_file, name)
    if fn is not None:
        return fn, {}
    if "." not in name:
        where = f", nor a function of {module_file}" if module_file else ""
        raise BuilderError(
            f"'model.builder' is {name!r}, which is not a zoo builder{where}. Expected one "
            f"of: {', '.join(sorted(ZOO))}, a dotted path, or a function of task.module_file."
        )
    return _import(name), {}


def _import(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise BuilderError(f"'model.builder' must name an importable function; {path!r} "
                           f"cannot be imported: {e}.") from None


def tunable_parameters(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The builder's keyword parameters with defaults: what ``model.hparams`` may set."""
    params = inspect.signature(fn).parameters
    return {n: p for n, p in params.items() if p.default is not inspect.Parameter.empty}


DERIVED_HPARAMS = {task_spec.TEXT_CLASSIFICATION: ("vocab_size",),
                   task_spec.RETRIEVAL: ("num_users", "num_items")}
"""Builder arguments a kind reads from its Transform output (the text vocabulary's size, the
user and item vocabularies' sizes), so the model and the data cannot disagree; a config may
not set them."""
FIXED_HPARAMS = ("head", "input_name", "name", "top_k")
"""Builder arguments the task sets itself."""
