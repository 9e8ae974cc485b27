"""The serving contract of the retrieval kind: users in, ranked items of the catalogue out.

The catalogue is the train split's item vocabulary (the Transform's), embedded in the
SavedModel with the item tower, and ranked by brute force: every request scores every item
(one matrix product, fine for catalogues of up to some 100k items on a CPU; past that, an
approximate nearest neighbour index such as ScaNN would replace ``tf.math.top_k`` over the
item embeddings, which ``item_embeddings`` exports for that purpose).

Signatures (names from ``dlpipe.contract`` where shared), each running the Transform graph
on the raw ids first:

- ``serving_default``: ``user_id`` string [batch] (integers in decimal) -> ``items`` string
  [batch, k] (item ids, best first) and ``scores`` float32 [batch, k] (cosine similarity).
  A user the train split never saw gets the embedding of unknown users.
- ``classify`` (method classify): ``inputs`` serialized tf.Examples -> ``classes`` (the item
  ids) and ``scores`` [batch, catalogue] over the whole catalogue: TFMA's recall@k reads it.
- ``transform_features``: serialized tf.Examples -> the Transform's outputs (the user's and
  the item's indices, the item's weight) and ``user_index`` int32 [batch, 1], the edge input.
- ``user_embedding``: ``user_id`` -> ``embedding`` [batch, dim].
- ``item_embeddings``: ``item_id`` string [batch] -> ``embedding`` [batch, dim] (an index of
  the catalogue can be built from these).
- ``edge``: ``user_index`` int32 [batch, 1] (the line of ``users.txt``; its line count for
  an unknown user) -> ``scores`` [batch, catalogue] in ``labels.txt`` order: the user tower
  and the whole catalogue in one file, for ranking on the device.

``assets.extra/items.txt`` and ``users.txt`` hold the catalogue and the user vocabulary,
``dlpipe_task.json`` the task, ``edge_spec.json`` the edge contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf

from dlpipe import contract
from models import edge
from models import export as saved_model
from models.tasks.export import _parse_spec, write_task_info
from models.tasks.spec import STRING, Task, vocab_name

ITEMS_OUTPUT = "items"
USER_ID_INPUT, ITEM_ID_INPUT = "user_id", "item_id"
EMBEDDING_OUTPUT = "embedding"
USER_EMBEDDING_SIGNATURE, ITEM_EMBEDDINGS_SIGNATURE = "user_embedding", "item_embeddings"
USER_INDEX = "user_index"
ITEMS_FILE = "items.txt"
"""In ``assets.extra``: the catalogue (line n: item n)."""
USERS_FILE = contract.USERS_FILE


def _vocabulary(tft_output: Any, key: str) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in tft_output.vocabulary_by_name(vocab_name(key))]


def export_retrieval_model(model: Any, tft_output: Any, export_dir: str | Path,
                           task: Task) -> Path:
    """Saves a trained two-tower model (``models.retrieval.TwoTower``) with the signatures
    of this module's doc.

    Args:
      model: The trained model: ``model(user_index)`` scores the catalogue; it has
        ``user_tower`` and ``item_tower``.
      tft_output: The ``tft.TFTransformOutput`` of the Transform that made its inputs.
      export_dir: The SavedModel directory to write.
      task: The resolved retrieval task.

    Returns:
      The export directory.
    """
    items, users = _vocabulary(tft_output, task.item), _vocabulary(tft_output, task.user)
    if not items:
        raise ValueError(f"The Transform's catalogue (vocabulary of {task.item!r}) is empty: "
                         f"the train split holds no item ids.")
    raw_spec = tft_output.raw_feature_spec()
    k = min(task.top_k, len(items))
    module = tf.Module()
    module.model = model
    module.tft_layer = tft_output.transform_features_layer()
    catalogue = tf.constant(items)
    parse_features = _parse_spec(raw_spec, task, with_label=False)
    parse_all = _parse_spec(raw_spec, task, with_label=True)

    def raw_ids(ids: tf.Tensor, key: str) -> Any:
        """String ids [batch] as the schema's raw feature of ``key``."""
        spec = raw_spec[key]
        values = ids if spec.dtype == tf.string else tf.strings.to_number(ids, spec.dtype)
        if isinstance(spec, tf.io.VarLenFeature):
            rows = tf.range(tf.shape(ids, out_type=tf.int64)[0])
            return tf.SparseTensor(tf.stack([rows, tf.zeros_like(rows)], axis=1), values,
                                   tf.stack([tf.shape(ids, out_type=tf.int64)[0], 1]))
        return tf.reshape(values, [-1, *spec.shape])

    def user_index(user_ids: tf.Tensor) -> tf.Tensor:
        return module.tft_layer({task.user: raw_ids(user_ids, task.user)})[task.model_input]

    def top_k(scores: tf.Tensor) -> dict[str, tf.Tensor]:
        best = tf.math.top_k(scores, k=k)
        return {ITEMS_OUTPUT: tf.gather(catalogue, best.indices),
                contract.SCORES_OUTPUT: best.values}

    ids_spec = tf.TensorSpec([None], tf.string, name=USER_ID_INPUT)
    examples_spec = tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)

    @tf.function(input_signature=[ids_spec])
    def serving(user_id: tf.Tensor) -> dict[str, tf.Tensor]:
        return top_k(module.model(user_index(user_id)))

    @tf.function(input_signature=[examples_spec])
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(inputs, parse_features)
        scores = module.model(module.tft_layer(raw)[task.model_input])
        return {contract.CLASSES_OUTPUT: tf.broadcast_to(catalogue, tf.shape(scores)),
                contract.SCORES_OUTPUT: scores}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=contract.TRANSFORM_INPUT)])
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        out = dict(module.tft_layer(tf.io.parse_example(examples, parse_all)))
        out[USER_INDEX] = tf.cast(tf.reshape(out[task.model_input], [-1, 1]), tf.int32)
        return out

    @tf.function(input_signature=[ids_spec])
    def user_embedding(user_id: tf.Tensor) -> dict[str, tf.Tensor]:
        return {EMBEDDING_OUTPUT: module.model.user_tower(user_index(user_id))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=ITEM_ID_INPUT)])
    def item_embeddings(item_id: tf.Tensor) -> dict[str, tf.Tensor]:
        index = module.tft_layer({task.item: raw_ids(item_id, task.item)})[task.label_input]
        return {EMBEDDING_OUTPUT: module.model.item_tower(index)}

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.int32, name=USER_INDEX)])
    def edge_fn(user_index: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.SCORES_OUTPUT: module.model(tf.reshape(user_index, [-1]))}

    signatures = {
        contract.SERVING_SIGNATURE: serving.get_concrete_function(),
        contract.CLASSIFY_SIGNATURE: classify.get_concrete_function(),
        contract.TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
        USER_EMBEDDING_SIGNATURE: user_embedding.get_concrete_function(),
        ITEM_EMBEDDINGS_SIGNATURE: item_embeddings.get_concrete_function(),
        contract.EDGE_SIGNATURE: edge_fn.get_concrete_function(),
    }
    export_dir = Path(export_dir)
    saved_model.save_with_signatures(module, export_dir, signatures,
                                     method_names={contract.CLASSIFY_SIGNATURE:
                                                   contract.CLASSIFY_METHOD})
    spec = edge.EdgeSpec(
        input_name=USER_INDEX, input_shape=(1,), input_dtype="int32",
        input_range=(0, len(users)), output_name=contract.SCORES_OUTPUT, task="retrieval",
        labels=tuple(items),
        normalization=f"the user's index: the line number (from 0) of its id in {USERS_FILE}; "
                      f"{len(users)} for a user not in it. The SavedModel's "
                      f"`{contract.TRANSFORM_SIGNATURE}` signature computes it from "
                      f"tf.Examples.",
        output_meaning=f"the cosine similarity of the user with each of the {len(items)} "
                       f"items of labels.txt; recommend the top {k}",
        example_feature=edge.SERIALIZED_EXAMPLE,
        example_signature=contract.TRANSFORM_SIGNATURE)
    edge.write_edge_spec(export_dir, spec)
    extra = export_dir / "assets.extra"
    (extra / ITEMS_FILE).write_text("".join(f"{i}\n" for i in items))
    (extra / USERS_FILE).write_text("".join(f"{u}\n" for u in users))
    write_task_info(export_dir, task, {"num_users": len(users), "num_items": len(items),
                                       "user_dtype": task.feature_dtypes.get(task.user, STRING)})
    return export_dir
