"""The retrieval kind: the two-tower builder (checked arguments, in-batch softmax that
recovers taste groups), the Transform (ids to vocabulary indices, unknown ids to the last
index, weight 0 for an item outside the catalogue) and the export (top-k item ids per user,
the catalogue scores TFMA reads, the towers' embeddings, the edge signature on user
indices)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models.retrieval import build_two_tower
from models.tasks import transform
from models.tasks.retrieval_export import (
    EMBEDDING_OUTPUT,
    ITEM_EMBEDDINGS_SIGNATURE,
    ITEMS_OUTPUT,
    USER_EMBEDDING_SIGNATURE,
    USER_INDEX,
)
from models.tasks.spec import RETRIEVAL, Task

TASK = Task(kind=RETRIEVAL, label="item_id", label_dtype="string", user="user_id",
            item="item_id", top_k=3, feature_dtypes={"user_id": "string", "item_id": "string"})
GROUPS, USERS, ITEMS = 4, 40, 20  # users u00..u39 in 4 groups; items i00..i19 in 4 genres


def interactions(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """User and item indices: each user's items come from its group's genre."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, USERS, n)
    items = (users % GROUPS) * (ITEMS // GROUPS) + rng.integers(0, ITEMS // GROUPS, n)
    return users, items


@pytest.mark.parametrize("arguments,message", [
    ({"num_users": 0}, "num_users must be >= 1"),
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"hidden_units": (8, 0)}, "hidden_units must be positive"),
])
def test_builder_refuses_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        build_two_tower(**{"num_users": 5, "num_items": 5, **arguments})


def test_in_batch_softmax_recovers_the_taste_groups():
    import keras

    keras.utils.set_random_seed(0)
    model = build_two_tower(USERS, ITEMS, embedding_dim=8, temperature=0.2, top_k=5)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    users, items = interactions(4000)
    data = tf.data.Dataset.from_tensor_slices(
        (users, items, np.ones(len(users), np.float32))).batch(64).repeat()
    history = model.fit(data, steps_per_epoch=50, epochs=2, validation_data=data,
                        validation_steps=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    scores = model(tf.range(USERS, dtype=tf.int64)).numpy()
    assert scores.shape == (USERS, ITEMS)
    top = np.argsort(-scores, axis=1)[:, :5]
    genre = top // (ITEMS // GROUPS)
    assert np.mean(genre == (np.arange(USERS) % GROUPS)[:, None]) >= 0.95
    assert history.history["val_recall_at_k"][-1] >= 0.95  # 5 of a genre's 5 items


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from models.tasks.retrieval_export import export_retrieval_model
    from models.training import derived_hparams

    out = tmp_path_factory.mktemp("retrieval")
    users, items = interactions(2000, seed=1)
    spec = {"user_id": tf.io.FixedLenFeature([], tf.string),
            "item_id": tf.io.FixedLenFeature([], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{"user_id": f"u{u:02d}".encode(), "item_id": f"i{i:02d}".encode()}
            for u, i in zip(users, items, strict=True)]
    with tft_beam.Context(temp_dir=str(out / "tmp"), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: transform.preprocessing_fn(inputs, {"task": TASK.to_dict()}))
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "graph"))
    metadata_io.write_metadata(
        metadata, str(out / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_output = tft.TFTransformOutput(str(out / "graph"))
    assert derived_hparams(TASK, tft_output) == {"num_users": USERS, "num_items": ITEMS}
    x = np.array([r[TASK.model_input] for r in transformed])
    y = np.array([r[TASK.label_input] for r in transformed])
    w = np.array([r[TASK.weight_input] for r in transformed], np.float32)
    assert x.max() < USERS and y.max() < ITEMS and (w == 1).all()
    keras.utils.set_random_seed(0)
    model = build_two_tower(USERS, ITEMS, embedding_dim=8, temperature=0.2, top_k=3)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(tf.data.Dataset.from_tensor_slices((x, y, w)).batch(64).repeat(),
              steps_per_epoch=100, epochs=1, verbose=0)
    path = export_retrieval_model(model, tft_output, out / "model", TASK)
    vocab = [v.decode() for v in tft_output.vocabulary_by_name("item_id_vocab")]
    return tf.saved_model.load(str(path)), path, vocab


def test_serving_recommends_the_users_genre(exported):
    loaded, _, _ = exported
    out = loaded.signatures[contract.SERVING_SIGNATURE](
        user_id=tf.constant(["u00", "u01", "u02", "u03"]))
    items = [[i.decode() for i in row] for row in out[ITEMS_OUTPUT].numpy()]
    assert out[contract.SCORES_OUTPUT].shape == (4, 3)
    for group, row in enumerate(items):
        assert {int(i[1:]) // (ITEMS // GROUPS) for i in row} == {group}, row
    scores = out[contract.SCORES_OUTPUT].numpy()
    assert (np.diff(scores, axis=1) <= 0).all()  # best first


def test_classify_scores_the_catalogue_and_unknown_users_still_get_an_answer(exported):
    loaded, _, vocab = exported
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[u.encode()])),
        "item_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"i00"]))}))
        .SerializeToString() for u in ("u05", "never-seen")]
    out = loaded.signatures[contract.CLASSIFY_SIGNATURE](inputs=tf.constant(examples))
    assert out[contract.SCORES_OUTPUT].shape == (2, ITEMS)
    assert [c.decode() for c in out[contract.CLASSES_OUTPUT].numpy()[0]] == vocab
    transformed = loaded.signatures[contract.TRANSFORM_SIGNATURE](
        examples=tf.constant(examples))
    assert transformed[USER_INDEX].numpy().tolist() == [
        [transformed[TASK.model_input].numpy()[0]], [USERS]]  # unknown: the last index
    assert transformed[TASK.label_input].numpy()[0] == vocab.index("i00")


def test_embeddings_and_the_edge_signature_agree_with_serving(exported):
    loaded, _, vocab = exported
    user = loaded.signatures[USER_EMBEDDING_SIGNATURE](user_id=tf.constant(["u07"]))[
        EMBEDDING_OUTPUT].numpy()
    items = loaded.signatures[ITEM_EMBEDDINGS_SIGNATURE](item_id=tf.constant(vocab))[
        EMBEDDING_OUTPUT].numpy()
    np.testing.assert_allclose(np.linalg.norm(user, axis=1), 1.0, rtol=1e-5)
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"u07"]))}))
        .SerializeToString()]
    index = loaded.signatures[contract.TRANSFORM_SIGNATURE](examples=tf.constant(examples))[
        USER_INDEX]
    edge = loaded.signatures[contract.EDGE_SIGNATURE](user_index=index)[
        contract.SCORES_OUTPUT].numpy()
    np.testing.assert_allclose(edge, user @ items.T, atol=1e-5)
    served = loaded.signatures[contract.SERVING_SIGNATURE](user_id=tf.constant(["u07"]))
    best = [i.decode() for i in served[ITEMS_OUTPUT].numpy()[0]]
    assert best == [vocab[j] for j in np.argsort(-edge[0])[:3]]
