"""Text edge files that the TFLite Task Library's NLClassifier can feed from raw text.

dlpipe's text models take token ids made by ``models.tasks.transform``: the text lowercased,
``<br />`` tags, apostrophes and punctuation removed, split on whitespace, each word's line in
``vocab.txt`` (0 pads, 1 is unknown), the last ``sequence_length`` ids kept and padded at the
front. The Task Library's RegexTokenizer (tflite-support 0.4.4,
``cc/task/processor/regex_preprocessor.cc``) instead splits on a delimiter regex, looks each
token up as it is (no lowercasing) in a ``token id`` vocabulary, keeps the *first* tokens and
pads at the *back*. Two things make its ids mean what the model's do:

- ``compact_padding`` in the edge graph moves padding ids to the front (the non-padding ids
  keep their order), so front- and back-padded ids give the same output, and a Task Library
  input of a text of at most ``sequence_length`` words equals the model's own;
- ``task_library_vocab`` lists each word as the model's tokenizer would find it in raw text:
  lowercase, Capitalized and UPPER, with the common English contractions (``don't``,
  ``it's``, ``you're`` ...) mapped to the id of the word without the apostrophe, and ``br``
  (what is left of a ``<br />`` tag after splitting) mapped to the padding id, which the
  compaction then removes.

What stays different (docs/edge.md says so): words of other casings (``iPhone``) or other
apostrophe positions are unknown to the Task Library; texts longer than ``sequence_length``
words are cut at the end by the Task Library, at the front by the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.edge import EDGE_SPEC_FILE

VOCAB_FILE = "vocab.txt"
TASK_INFO_FILE = "assets.extra/dlpipe_task.json"
RESERVED = ("[PAD]", "[UNK]")
PAD_ID, UNKNOWN_ID = 0, 1
DELIM_REGEX = r"[^\pL\pM\pN'\x{2019}]+"
"""RE2 delimiter of the Task Library tokenizer: every character that is not a letter, mark,
digit or apostrophe, which is what dlpipe's ``clean_text`` turns into spaces."""
TASK_LIBRARY_VOCAB_FILE = "tokenizer_vocab.txt"
"""Name of the ``token id`` vocabulary packed inside a text classifier's .tflite."""

_CONTRACTIONS = {"nt": 1, "s": 1, "re": 2, "ve": 2, "ll": 2, "d": 1, "m": 1}
"""Word endings that may follow an apostrophe in raw text, and how many letters follow it
(``dont`` <- ``don't``, ``its`` <- ``it's``, ``youre`` <- ``you're``)."""


def dlpipe_vocab(model_dir: str | Path) -> list[str] | None:
    """The vocabulary of a text model whose token ids dlpipe's own Transform makes, or None.

    None for a model without ``assets.extra/vocab.txt``, with a vocabulary not starting with
    ``[PAD]``, ``[UNK]``, or whose ids a ``preprocessing_fn`` of the user's makes (its rules
    are unknown here)."""
    import json

    model_dir = Path(model_dir)
    path = model_dir / "assets.extra" / VOCAB_FILE
    if not path.is_file():
        return None
    vocab = path.read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    if tuple(vocab[:2]) != RESERVED:
        return None
    info_path = model_dir / TASK_INFO_FILE
    if info_path.is_file():
        learned = json.loads(info_path.read_text()).get("learned", {})
        if learned.get("preprocessing"):
            return None
    if not (model_dir / EDGE_SPEC_FILE).is_file():
        return None
    return vocab


def _variants(word: str) -> list[str]:
    """Raw-text forms of ``word`` that dlpipe's tokenizer maps to it."""
    forms = [word]
    for ending, tail in _CONTRACTIONS.items():
        if len(word) > len(ending) and word.endswith(ending):
            forms += [word[:-tail] + quote + word[-tail:] for quote in ("'", "\u2019")]
    out = []
    for form in forms:
        out.extend(dict.fromkeys((form, form[:1].upper() + form[1:], form.upper())))
    return out


def task_library_vocab(vocab: list[str]) -> str:
    """The RegexTokenizer vocabulary (``token id`` per line) for dlpipe's ``vocab``.

    ``<PAD>`` and ``<UNKNOWN>`` take ids 0 and 1 (``[PAD]``, ``[UNK]``); there is no
    ``<START>``, so the Task Library puts no start id in front."""
    seen: dict[str, int] = {"<PAD>": PAD_ID, "<UNKNOWN>": UNKNOWN_ID}
    for token_id, word in enumerate(vocab):
        if token_id < len(RESERVED) or not word or " " in word:
            continue
        for form in _variants(word):
            seen.setdefault(form, token_id)
    for tag in ("br", "Br", "BR"):  # what a `<br />` tag leaves: the model never sees it
        seen[tag] = PAD_ID
    return "".join(f"{token} {token_id}\n" for token, token_id in seen.items())


def compact_padding(ids: Any, pad_id: int = PAD_ID) -> Any:
    """Moves the padding ids of each row of ``ids`` ``[batch, n]`` to the front.

    The other ids keep their order, so a front-padded row is returned unchanged and a
    back-padded one (the Task Library's) becomes front-padded. TFLite builtins only
    (SELECT, TOPK_V2, GATHER)."""
    import tensorflow as tf

    n = ids.shape[-1]
    position = tf.range(n, dtype=tf.int32)[None, :] + tf.zeros_like(ids, tf.int32)
    key = tf.where(tf.equal(ids, pad_id), position, position + n)
    order = tf.math.top_k(-key, k=n, sorted=True).indices  # ascending key
    return tf.gather(ids, order, batch_dims=1)
