"""Two-tower retrieval: a user tower and an item tower embedding ids in one space.

``build_two_tower`` is a pure builder (it never trains). The model it returns scores the
whole item catalogue for a batch of users (``call``: cosine similarity of the L2-normalized
embeddings, ``[batch, num_items]``), which is what serving ranks and the evaluation's
recall@k reads. Training is the in-batch softmax of two-tower retrieval: each interaction's
item is the positive of its user, the batch's other items are the negatives (an item that
also is the positive of the row is not counted as a negative), with the logits divided by a
temperature. Interactions with weight 0 (an item outside the catalogue) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import layers


def _tower(vocabulary: int, embedding_dim: int, hidden_units: Sequence[int], seed: int,
           name: str) -> keras.Model:
    """Ids ``[batch]`` -> L2-normalized embeddings ``[batch, embedding_dim]``; the last row of
    the table (id ``vocabulary``) embeds ids outside the vocabulary."""
    ids = keras.Input(shape=(), dtype="int64", name=f"{name}_id")
    x = layers.Embedding(vocabulary + 1, embedding_dim, name=f"{name}_embedding",
                         embeddings_initializer=keras.initializers.RandomNormal(
                             stddev=0.05, seed=seed))(ids)
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu" if i < len(hidden_units) - 1 else None,
                         name=f"{name}_dense{i + 1}")(x)
    x = layers.UnitNormalization(name=f"{name}_normalize")(x)
    return keras.Model(ids, x, name=f"{name}_tower")


class TwoTower(keras.Model):
    """The two towers, catalogue scoring (``call``) and in-batch softmax training."""

    def __init__(self, user_tower: keras.Model, item_tower: keras.Model, num_items: int,
                 temperature: float, top_k: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.user_tower = user_tower
        self.item_tower = item_tower
        self.num_items = num_items
        self.temperature = temperature
        self.top_k = top_k
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.recall = keras.metrics.SparseTopKCategoricalAccuracy(
            k=min(top_k, num_items), name="recall_at_k")

    def item_embeddings(self, training: bool = False) -> tf.Tensor:
        """The catalogue's embeddings, ``[num_items, embedding_dim]``."""
        return self.item_tower(tf.range(self.num_items, dtype=tf.int64), training=training)

    def call(self, users: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Cosine similarity of each user with every catalogue item, ``[batch, num_items]``."""
        user = self.user_tower(tf.reshape(tf.cast(users, tf.int64), [-1]), training=training)
        return tf.matmul(user, self.item_embeddings(training), transpose_b=True)

    def in_batch_loss(self, users: tf.Tensor, items: tf.Tensor, weights: tf.Tensor | None,
                      training: bool) -> tf.Tensor:
        users = tf.reshape(tf.cast(users, tf.int64), [-1])
        items = tf.reshape(tf.cast(items, tf.int64), [-1])
        user = self.user_tower(users, training=training)
        item = self.item_tower(items, training=training)
        logits = tf.matmul(user, item, transpose_b=True) / self.temperature
        # The same item on another row is not a negative of this one.
        same = tf.equal(items[:, None], items[None, :])
        logits = tf.where(tf.logical_and(same, ~tf.eye(tf.shape(items)[0], dtype=tf.bool)),
                          tf.constant(-1e9, logits.dtype), logits)
        per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.range(tf.shape(items)[0]), logits=logits)
        if weights is None:
            return tf.reduce_mean(per_row)
        weights = tf.reshape(tf.cast(weights, per_row.dtype), [-1])
        return tf.reduce_sum(per_row * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)

    def train_step(self, data):
        users, items, weights = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss = self.in_batch_loss(users, items, weights, training=True)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables,
                                           strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        users, items, weights = keras.utils.unpack_x_y_sample_weight(data)
        self.loss_tracker.update_state(self.in_batch_loss(users, items, weights, False))
        self.recall.update_state(tf.reshape(items, [-1, 1]), self(users),
                                 sample_weight=weights)
        return {"loss": self.loss_tracker.result(), "recall_at_k": self.recall.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.recall]


def build_two_tower(
    num_users: int,
    num_items: int,
    embedding_dim: int = 32,
    hidden_units: Sequence[int] = (),
    temperature: float = 0.1,
    top_k: int = 10,
    seed: int = 0,
    name: str = "two_tower",
) -> TwoTower:
    """Builds a two-tower retrieval model (uncompiled; compile it with an optimizer only).

    Args:
      num_users: Users in the vocabulary; id ``num_users`` is any other user.
      num_items: Items in the catalogue (ids ``0 .. num_items - 1``).
      embedding_dim: Size of the embeddings (and of the towers' last dense layer).
      hidden_units: ReLU layers on top of each embedding, then a linear one of
        ``embedding_dim``; empty: the embedding itself.
      temperature: Divides the in-batch logits (smaller: sharper softmax).
      top_k: The k of the recall@k metric the model reports on validation data.
      seed: Initializer seed.
      name: Model name.

    Raises:
      ValueError: a size below 1, or a non-positive temperature.
    """
    for key, value in (("num_users", num_users), ("num_items", num_items),
                       ("embedding_dim", embedding_dim), ("top_k", top_k)):
        if int(value) < 1:
            raise ValueError(f"{key} must be >= 1. Received: {key}={value!r}")
    if any(int(u) < 1 for u in hidden_units):
        raise ValueError(f"hidden_units must be positive. Received: "
                         f"hidden_units={list(hidden_units)!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature!r}")
    units = [*hidden_units, embedding_dim] if hidden_units else []
    return TwoTower(_tower(num_users, embedding_dim, units, seed, "user"),
                    _tower(num_items, embedding_dim, units, seed + 1, "item"),
                    num_items=int(num_items), temperature=float(temperature),
                    top_k=int(top_k), name=name)
