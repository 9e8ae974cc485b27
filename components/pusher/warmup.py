"""TF Serving's warm-up file for a pushed SavedModel: ``assets.extra/tf_serving_warmup_requests``.

The file is a TFRecord of ``PredictionLog`` protos, as TFX's InfraValidator writes it with
``make_warmup``; TF Serving (``--enable_model_warmup``, on by default) and ``dlpipe serve``
replay every record against a new version before it becomes AVAILABLE, so the first
requests after a hot swap do not pay for tracing and kernel set-up.

The Pusher has no examples, so the requests are built from the signatures: one request
per signature with a batch of zeros (numeric inputs) or empty strings (string inputs;
``classify`` / ``regress`` signatures get one empty ``tf.Example``). A failing warm-up
record fails the version's load in TF Serving, so each request is run on the SavedModel
here first and only the ones that succeed are written. A file already present (from the
InfraValidator, built from real examples) is kept as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlpipe.contract import CLASSIFY_METHOD, REGRESS_METHOD
from serving.core import MAX_WARMUP_RECORDS, WARMUP_FILE

log = logging.getLogger("dlpipe.pusher")


def _request_logs(saved_model_dir: Path, model_name: str,
                  batch_sizes: Sequence[int]) -> list[Any]:
    """PredictionLogs, one per signature and batch size, that run on the SavedModel."""
    import numpy as np
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    from serving import tensors
    from serving.backends.base import example_inputs
    from serving.backends.saved_model import SavedModelServable

    try:
        servable = SavedModelServable(saved_model_dir)
    except Exception as e:  # no warm-up file is better than a failed push
        log.warning("No warm-up requests for %s: the SavedModel did not load here (%s)",
                    saved_model_dir, e)
        return []
    logs = []
    for name in sorted(servable.signatures):
        sig = servable.signatures[name]
        for batch in batch_sizes:
            record = prediction_log_pb2.PredictionLog()
            if sig.method_name in (CLASSIFY_METHOD, REGRESS_METHOD):
                request = (record.classify_log.request if sig.method_name == CLASSIFY_METHOD
                           else record.regress_log.request)
                request.model_spec.name = model_name
                request.model_spec.signature_name = name
                for _ in range(batch):
                    request.input.example_list.examples.add().CopyFrom(example_pb2.Example())
                empty = np.empty(batch, dtype=object)
                empty[:] = [example_pb2.Example().SerializeToString()] * batch
                inputs = {"inputs": empty}
            else:
                request = record.predict_log.request
                request.model_spec.name = model_name
                request.model_spec.signature_name = name
                inputs = example_inputs(sig, batch)
                for key, value in inputs.items():
                    request.inputs[key].CopyFrom(tensors.make_tensor_proto(value))
            try:
                servable.run(name, inputs)
            except Exception as e:  # any signature synthetic inputs do not suit is left out
                log.info("No warm-up request for signature %s: synthetic inputs do not run "
                         "(%s)", name, e)
                continue
            logs.append(record)
    servable.close()
    return logs[:MAX_WARMUP_RECORDS]


def write_warmup_requests(version_dir: Path, model_name: str,
                          batch_sizes: Sequence[int] = (1,)) -> Path | None:
    """Writes ``<version_dir>/assets.extra/tf_serving_warmup_requests``.

    Args:
      version_dir: A SavedModel directory (about to be published as a version).
      model_name: The served model name put in each request's ``model_spec``.
      batch_sizes: Batch sizes of the synthetic requests (each signature gets one
        request per size).

    Returns:
      The file's path, or None when no signature could be warmed up with synthetic
      inputs (nothing is written then).
    """
    import tensorflow as tf

    version_dir = Path(version_dir)
    path = version_dir / WARMUP_FILE
    if path.is_file():
        return path
    for b in batch_sizes:
        if int(b) < 1:
            raise ValueError(f"batch_sizes must be >= 1. Received: batch_sizes={batch_sizes!r}")
    logs = _request_logs(version_dir, model_name, batch_sizes)
    if not logs:
        log.warning("No warm-up requests written for %s: no signature runs on synthetic inputs",
                    version_dir)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in logs:
            writer.write(record.SerializeToString())
    return path
