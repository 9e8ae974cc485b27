"""``dlpipe init``: read a data source and write a starter config that ``dlpipe run`` runs.

    dlpipe init --set ingest.kind=csv --set ingest.path=/data/trips --label tipped -o trips.yaml
    dlpipe run --config trips.yaml

The source is checked and profiled as ``dlpipe run`` checks it (``pipeline.ingest.
check_source``; the bundled kinds write their data first), the task kind is guessed from the
profile, the task is resolved against the data (``models.tasks.spec.resolve``) and what the
resolution decided is written down explicitly, so that later runs depend neither on the
guess nor on the rules.

Guessing rules (``--kind`` overrides them; every ``--set`` value is kept as given):

- ``audio_classification``: the source provides audio (an audio folder, the bundled spoken
  digits, a TFDS Audio feature).
- ``image_classification``: the source provides images (an image folder, the bundled digits,
  a TFDS Image feature), or a TFRecord feature named by ``task.image`` (default ``image``)
  holds a flat square of n x n numbers per example (an n x n grey image).
- ``text_classification``: the source provides text (``imdb_sample``, a TFDS Text feature),
  or a string column reads as free text: its values average more than 30 characters and
  more than half of them are distinct. ``task.text`` is that column (the longest such).
- ``tabular_regression``: a table whose label holds non-integer numbers, or integers taking
  more than 20 distinct values.
- ``tabular_classification``: any other table (string labels, integers with few values).

The label (``--label``, default ``label``) must be a column of the data. Written explicitly:
``task.classes`` (classification: the resolved classes, pinned so that class ids never change
between versions), ``task.numeric`` / ``task.categorical`` (tabular: as the rule typed the
columns; columns without any value are left out), ``task.image_shape`` (images),
``task.text``, ``vocab_size``, ``sequence_length`` (text), ``model.builder`` (the zoo default
of the kind, ``models.zoo.DEFAULT_BUILDER``) with ``model.hparams: {}`` (the builder's
defaults), ``validate.schema_file: ""`` (SchemaGen infers the schema; the SchemaCurator
relaxes it for the task), starter evaluation bars (classification: ``min_accuracy`` 0.5,
``min_class_accuracy`` 0.0) and ``push.model_name`` (the pipeline name, by default the output
file's stem). Relative paths given with ``--set`` (``ingest.path``, ``ingest.tfds_data_dir``,
``task.module_file``, ``validate.schema_file``) are written absolute, taken from the current
directory, so the file runs from any directory.

The file is written next to its destination first, loaded back (``load_config``) and its
task resolved again (``prepare``); only then is it renamed onto the output path. A config
that does not load is never left behind, and an existing file is kept unless ``--force``.

Exit status: 0 when the config was written, 1 for an unreadable source or an existing
output file, 2 for a config (or a task) that cannot work.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.tasks.spec import KINDS as TASK_KINDS

REGRESSION_DISTINCT = 20
"""A table's integer label with more distinct values than this is a regression target."""
TEXT_MEAN_LENGTH = 30
"""A string column whose values average more characters than this (and are mostly
distinct) is free text."""
TEXT_DISTINCT_SHARE = 0.5
"""... and more than this share of its values are distinct."""
TEXT_SAMPLE = 1000
"""Values read from the CSV files to measure a column with too many distinct values for the
profile to list."""
START_MIN_ACCURACY, START_MIN_CLASS_ACCURACY = 0.5, 0.0
"""The starter evaluation bars of a classification config."""

PATH_KEYS = (("ingest", "path"), ("ingest", "tfds_data_dir"), ("task", "module_file"),
             ("validate", "schema_file"))
"""Keys whose relative values (taken from the current directory) are written absolute."""
_WIDTH = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="A config key, e.g. --set ingest.kind=csv --set ingest.path=/data/trips "
             "(repeatable; any key of `dlpipe config --keys`; kept in the written file).",
    )
    parser.add_argument(
        "--label", help="The label column or feature (default: task.label if set, else "
                        "'label').",
    )
    parser.add_argument("--kind", choices=TASK_KINDS,
                        help="The task kind (default: guessed from the data).")
    parser.add_argument("--name", help="Pipeline name (default: the output file's stem).")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="The config file to write (.yaml or .yml).")
    parser.add_argument("--force", action="store_true",
                        help="Overwrite FILE if it exists.")


# The source and the guess ------------------------------------------------------------------


def _section(data: Mapping[str, Any], name: str) -> dict:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _absolute_paths(data: dict) -> None:
    """Relative file and directory keys of the command line, made absolute (in place)."""
    for section, key in PATH_KEYS:
        part = data.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if isinstance(value, str) and value and not value.startswith(("gs://", "s3://")):
            part[key] = os.path.abspath(os.path.expanduser(value))


def _probe_kinds(user: dict, forced: str, provides: str, reader: str) -> list[str]:
    """Task kinds to check the source with, in order (the first whose profile fits wins)."""
    from models.tasks import spec as s

    if forced:
        return [forced]
    by_source = {"images": s.IMAGE_CLASSIFICATION, "text": s.TEXT_CLASSIFICATION,
                 "audio": s.AUDIO_CLASSIFICATION, "table": s.TABULAR_CLASSIFICATION}
    if provides in by_source:
        return [by_source[provides]]
    task = _section(user, "task")
    if task.get("image_shape"):
        return [s.IMAGE_CLASSIFICATION]
    if any(task.get(k) for k in ("numeric", "categorical", "ignore")):
        return [s.TABULAR_CLASSIFICATION]
    if reader == "tfds":  # which feature TFDS maps depends on the kind: try each
        return [s.IMAGE_CLASSIFICATION, s.TEXT_CLASSIFICATION, s.AUDIO_CLASSIFICATION,
                s.TABULAR_CLASSIFICATION]
    return [s.TABULAR_CLASSIFICATION]  # a TFRecord profile does not depend on the kind


def _probe_data(user: dict, kind: str, label: str) -> dict:
    """The user's keys with a task kind to check the source with (no model: its builder
    must fit the kind, which is not known yet)."""
    data = json.loads(json.dumps(user))
    data.pop("model", None)
    data.pop("tune", None)
    data["task"] = {**_section(user, "task"), "kind": kind, "label": label}
    return data


def _check(user: dict, forced: str, label: str):
    """(config, source, kind probed) of the first probe kind whose profile fits."""
    from models.tasks import spec as s
    from pipeline.config import config_from_data
    from pipeline.ingest import check_source, describe
    from pipeline.ingest.kinds import KINDS

    ingest = _section(user, "ingest")
    kind = KINDS.get(ingest.get("kind", "sklearn_digits"))
    provides, reader = (kind.provides, kind.reader) if kind else ("examples", "")
    candidates = _probe_kinds(user, forced, provides, reader)
    wants = {s.IMAGE_CLASSIFICATION: "images", s.TEXT_CLASSIFICATION: "text",
             s.AUDIO_CLASSIFICATION: "audio"}
    for i, candidate in enumerate(candidates):
        config = config_from_data(_probe_data(user, candidate, label), Path.cwd())
        if i == 0:
            print(f"Reading {describe(config)} (ingest.kind={config.ingest.kind}) ...",
                  flush=True)
        source = check_source(config)
        if i == len(candidates) - 1 or source.profile.kind == wants.get(candidate):
            return config, source, candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _csv_samples(config, names: Sequence[str]) -> dict[str, list[str]]:
    """Up to ``TEXT_SAMPLE`` non-empty values of each column, read from the CSV input."""
    from components.csv_checks import csv_files
    from pipeline.ingest.kinds import KINDS

    samples: dict[str, list[str]] = {n: [] for n in names}
    for path in csv_files(config.data_dir, KINDS[config.ingest.kind].pattern):
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [c.strip() for c in next(reader, [])]  # as the CSV check reads it
            where = {n: header.index(n) for n in names if n in header}
            for row in reader:
                for name, i in where.items():
                    if i < len(row) and row[i] and len(samples[name]) < TEXT_SAMPLE:
                        samples[name].append(row[i])
                if all(len(v) >= TEXT_SAMPLE for v in samples.values()):
                    return samples
    return samples


def _free_text(profile, label: str, config) -> list[tuple[str, str]]:
    """(column, why) of the string columns that read as free text, longest first."""
    from models.tasks.spec import DISTINCT_CAP, STRING
    from pipeline.ingest.kinds import CSV, KINDS

    columns = [c for c in profile.columns.values()
               if c.dtype == STRING and c.name != label and c.present and c.size == 1]
    unlisted = [c.name for c in columns if not c.values]  # too many distinct values to list
    samples = {}
    if unlisted and KINDS[config.ingest.kind].reader == CSV:
        samples = _csv_samples(config, unlisted)
    found = []
    for c in columns:
        values = [str(v) for v in c.values] or samples.get(c.name, [])
        if not values:
            continue
        mean = sum(len(v) for v in values) / len(values)
        share = 1.0 if c.distinct is None else c.distinct / c.present
        if mean > TEXT_MEAN_LENGTH and share > TEXT_DISTINCT_SHARE:
            distinct = (f"more than {DISTINCT_CAP} distinct values" if c.distinct is None
                        else f"{share:.0%} distinct")
            found.append((mean, c.name, f"free text: {mean:.0f} characters on average, "
                                        f"{distinct}"))
    return [(name, why) for _, name, why in sorted(found, reverse=True)]


def text_column(profile, task_spec, user_task: dict, label: str, config
                ) -> tuple[str, str]:
    """(task.text, why): the user's, the source's declared text feature, a free-text column
    (the longest), else ``task.text``'s default if it is a string column; ("", "") if none."""
    from models.tasks.spec import STRING

    if user_task.get("text"):
        return task_spec.text, "set with --set task.text"
    declared = [n for n in profile.text_features if n != label]
    if declared:
        name = task_spec.text if task_spec.text in declared else declared[0]
        return name, "the source's text feature"
    free = _free_text(profile, label, config)
    if free:
        return free[0]
    column = profile.columns.get(task_spec.text)
    if column is not None and column.dtype == STRING and task_spec.text != label:
        return task_spec.text, "a string column"
    return "", ""


def _flat_image(profile, task_spec) -> str:
    """Why the ``task.image`` feature reads as an image, or empty."""
    from models.tasks.spec import STRING

    column = profile.columns.get(task_spec.image)
    if column is None or column.dtype == STRING or column.size < 2:
        return ""
    if task_spec.image_shape and math.prod(task_spec.image_shape) == column.size:
        return f"feature {task_spec.image!r} holds {column.size} values per example"
    side = math.isqrt(column.size)
    if side * side == column.size:
        return (f"feature {task_spec.image!r} holds {column.size} numbers per example "
                f"(read as {side}x{side} grey images)")
    return ""


def _check_label(profile, label: str) -> None:
    """The label is a column of the data, or a one-line ConfigError naming the columns."""
    import difflib

    from dlpipe.errors import ConfigError

    if label in profile.columns:
        return
    names = sorted(profile.columns)
    close = difflib.get_close_matches(label, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"Config key 'task.label' names {label!r}, which {profile.source} does not have"
        f"{hint}. Expected one of: {', '.join(names)} (set it with --label). "
        f"Received: task.label={label!r}."
    )


def guess_kind(profile, task_spec, user_task: dict, label: str, config
               ) -> tuple[str, str, str, str]:
    """(task kind, why, text column, why that column) by the module's rules."""
    from models.tasks import spec as s

    source = (f"TFDS {config.ingest.tfds_name}" if config.ingest.kind == "tfds"
              else f"ingest.kind={config.ingest.kind}")
    if profile.kind == "images":
        return s.IMAGE_CLASSIFICATION, f"{source} provides images", "", ""
    if profile.kind == "audio":
        return s.AUDIO_CLASSIFICATION, f"{source} provides audio", "", ""
    flat = _flat_image(profile, task_spec) if profile.kind == "examples" else ""
    if flat:
        return s.IMAGE_CLASSIFICATION, flat, "", ""
    text, text_why = text_column(profile, task_spec, user_task, label, config)
    if text and (profile.kind == "text" or text_why != "a string column"):
        why = (f"{source} provides text" if profile.kind == "text"
               else f"column {text!r} holds free text")
        return s.TEXT_CLASSIFICATION, why, text, text_why
    column = profile.columns[label]
    if column.dtype == s.FLOAT:
        return s.TABULAR_REGRESSION, f"label {label!r} holds non-integer numbers", "", ""
    if column.dtype == s.INT and (column.distinct is None
                                  or column.distinct > REGRESSION_DISTINCT):
        many = (f"more than {s.DISTINCT_CAP}" if column.distinct is None
                else str(column.distinct))
        return (s.TABULAR_REGRESSION, f"label {label!r} holds integers with {many} distinct "
                f"values (> {REGRESSION_DISTINCT})", "", "")
    what = "strings" if column.dtype == s.STRING else f"integers with {column.distinct} values"
    return s.TABULAR_CLASSIFICATION, f"label {label!r} holds {what}", "", ""


# The file ----------------------------------------------------------------------------------


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"  # YAML 1.1 reads 1e-05 as a string
    return text


_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./-]*")


def scalar(value: Any) -> str:
    """A YAML scalar or flow collection that reads back as ``value``."""
    import yaml

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {scalar(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _comment_lines(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH - len(indent) - 2, initial_indent=f"{indent}# ",
                         subsequent_indent=f"{indent}# ")


def render(data: Mapping[str, Any], notes: Mapping[str, str], above: Mapping[str, str],
           prefix: str = "", depth: int = 0) -> list[str]:
    """YAML block lines of ``data``; ``notes`` (dotted key -> text) become comments after a
    value, ``above`` (dotted key -> text) comment lines before its key."""
    indent = "  " * depth
    rows: list[tuple[str, str]] = []  # (line, inline note)
    out: list[str] = []

    def flush() -> None:
        fits = [(line, note) for line, note in rows if note and len(line) + len(note) + 4 <= _WIDTH]
        column = max((len(line) for line, _ in fits), default=0)
        column = column if column <= 48 else 0
        for line, note in rows:
            padded = line.ljust(column)
            if note and len(padded) + len(note) + 4 > _WIDTH:
                padded = line
            if note and len(padded) + len(note) + 4 > _WIDTH:  # too long: the note above
                out.extend(_comment_lines(note, indent))
                out.append(line)
            else:
                out.append(f"{padded}  # {note}" if note else line)
        rows.clear()

    for key, value in data.items():
        full = f"{prefix}{key}"
        if full in above:
            flush()
            out.extend(_comment_lines(above[full], indent))
        head = f"{indent}{scalar(str(key))}:"
        note = notes.get(full, "")
        if isinstance(value, dict) and value:
            rows.append((head, note))
            flush()
            out.extend(render(value, notes, above, full + ".", depth + 1))
            continue
        flow = scalar(value)
        if isinstance(value, list) and value and len(head) + 1 + len(flow) > _WIDTH:
            rows.append((head, note))
            flush()
            out.extend(f"{indent}  - {scalar(v)}" for v in value)
            continue
        rows.append((f"{head} {flow}", note))
    flush()
    return out


def _section_order() -> list[str]:
    """The schema's keys, the source and the task first (as the project's configs read)."""
    import dataclasses

    from pipeline.config import PipelineConfig

    first = ["name", "output_root", "enable_cache", "task", "ingest", "validate", "model"]
    return first + [f.name for f in dataclasses.fields(PipelineConfig) if f.name not in first]


def compose(user: dict, name: str, config, source, task, why_kind: str, why_text: str = "",
            out: Path | str = "THIS_FILE") -> str:
    """The config file's text: the user's keys, the task as resolved, starter choices."""
    from models import zoo
    from pipeline.ingest.kinds import KINDS

    profile = source.profile
    user_task = _section(user, "task")
    notes: dict[str, str] = {}
    above: dict[str, str] = {}

    t: dict[str, Any] = {"kind": task.kind}
    if task.is_retrieval:
        t.update(user=task.user, item=task.item, top_k=task.top_k)
        notes["task.item"] = "the catalogue: the item ids of the train split"
        notes["task.top_k"] = "items recommended per user, and the k of recall@k"
    else:
        t["label"] = task.label
    notes["task.kind"] = why_kind
    if task.is_classification:
        t["classes"] = list(task.classes)
        above["task.classes"] = (
            f"The {task.num_classes} classes in output order, pinned (class ids then never "
            f"change between versions); a label value outside them fails the run.")
    for key in ("label_unit",):
        if key in user_task:
            t[key] = user_task[key]
    if task.is_image:
        if "image" in user_task:
            t["image"] = task.image
        t["image_shape"] = list(task.image_shape)
        notes["task.image_shape"] = "height, width, channels: from the data"
    elif task.is_text:
        t["text"] = task.text
        t["vocab_size"] = task.vocab_size
        t["sequence_length"] = task.sequence_length
        notes["task.text"] = why_text or "the text feature"
        notes["task.vocab_size"] = "token ids: the most frequent words, plus padding and OOV"
        notes["task.sequence_length"] = "tokens per text the model reads (the last ones)"
    elif task.is_audio:
        if "audio" in user_task:
            t["audio"] = task.audio
        t["sample_rate"] = task.sample_rate
        t["clip_seconds"] = round(task.audio_samples / task.sample_rate, 6)
        notes["task.sample_rate"] = "samples per second: from the data"
        notes["task.clip_seconds"] = "the model hears this much of each clip (padded or cut)"
    elif task.is_tabular:
        spec = config.task
        above["task.numeric" if task.numeric else "task.categorical"] = (
            f"Feature columns as the rule typed them (strings, and integers with at most "
            f"{spec.max_categories} distinct values, are categorical; floats and other "
            f"integers numeric), written out so that the run does not depend on the rule. "
            f"Move a column between the lists to change its treatment; put ids, timestamps "
            f"and leaks in task.ignore.")
        if task.numeric:
            t["numeric"] = list(task.numeric)
        if task.categorical:
            t["categorical"] = list(task.categorical)
        empty = [c.name for c in profile.columns.values()
                 if c.present == 0 and c.name != task.label and c.name not in spec.ignore]
        if empty:
            notes["task.categorical" if task.categorical else "task.numeric"] = (
                f"left out, no value in the data: {', '.join(empty)}")
    for key, value in user_task.items():
        t.setdefault(key, value)

    ingest = _section(user, "ingest")
    ingest = {"kind": config.ingest.kind, **ingest}
    data: dict[str, Any] = {}
    sections = {
        "name": name,
        "output_root": user.get("output_root", "runs"),
        "task": t,
        "ingest": ingest,
        "validate": {"schema_file": "", **_section(user, "validate")},
        "model": {"builder": zoo.DEFAULT_BUILDER[task.kind], "hparams": {},
                  **_section(user, "model")},
        "push": {"model_name": name, **_section(user, "push")},
    }
    if not config.validate.schema_file:
        notes["validate.schema_file"] = "SchemaGen infers it; the SchemaCurator fits it to the task"
    if "builder" not in _section(user, "model"):
        notes["model.builder"] = f"the zoo default for {task.kind} (models/zoo.py)"
    if not _section(user, "model").get("hparams"):
        notes["model.hparams"] = "the builder's defaults (its docstring lists them)"
    evaluate = _section(user, "evaluate")
    if task.is_classification:
        sections["evaluate"] = {"min_accuracy": START_MIN_ACCURACY,
                                "min_class_accuracy": START_MIN_CLASS_ACCURACY, **evaluate}
        above["evaluate"] = "Starter bars: raise these once you know what the model reaches."
    elif task.is_regression:
        sections["evaluate"] = {"max_mae": 0.0, "max_regression": 0.1, **evaluate}
        above["evaluate"] = (
            "Starter bars: set max_mae (label units; 0: not checked) once you know what the "
            "model reaches; the run's summary prints the error of predicting the train mean.")
        notes["evaluate.max_regression"] = "at most 10% worse than the latest blessed model"
    elif task.is_retrieval:
        sections["evaluate"] = {"min_recall": 0.0, "max_recall_drop": 0.02, **evaluate}
        above["evaluate"] = (
            "Starter bars: set min_recall (recall@top_k on the eval interactions) once you know "
            "what the model reaches; the run's summary prints the recall of recommending the "
            "most popular items.")
    for section in _section_order():
        if section in sections:
            data[section] = sections[section]
        elif section in user:
            data[section] = user[section]

    kind = KINDS[config.ingest.kind]
    where = kind.source if kind.bundled else profile.source
    if kind.bundled:
        where += f", written to {config.data_dir}"
    if kind.reader == "tfds" and profile.source.startswith("TFDS"):
        where = profile.source
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    header = [f"# Starter config written by `dlpipe init` on {stamp}."]
    header += _comment_lines(
        f"Data: {where} (ingest.kind={config.ingest.kind}, {profile.examples} examples).", "")
    header += _comment_lines(
        "The task kind, the classes and the feature types were read from the data (the "
        "guesses are marked); check them, then run:", "")
    header.append(f"#   dlpipe run --config {out}")
    header.append("# Every key is documented by `dlpipe config --keys`.")
    return "\n".join([*header, *render(data, notes, above)]) + "\n"


def summarize(task) -> str:
    """One line: the task's kind, label and what the model reads."""
    if task.is_classification:
        shown = ", ".join(task.classes[:6]) + (", ..." if task.num_classes > 6 else "")
        what = f"{task.num_classes} classes ({shown})"
    elif task.is_regression:
        what = "regression"
    elif task.is_retrieval:
        what = f"the top {task.top_k} items of {task.item!r} for each {task.user!r}"
    else:
        what = "generative"
    if task.is_image:
        reads = "images " + "x".join(str(d) for d in task.image_shape)
    elif task.is_text:
        reads = f"text {task.text!r}"
    elif task.is_audio:
        reads = f"audio {task.audio!r}, {task.audio_samples} samples at {task.sample_rate} Hz"
    elif task.is_retrieval:
        reads = "user ids"
    else:
        reads = f"{len(task.numeric)} numeric, {len(task.categorical)} categorical features"
    return f"Task: {task.kind}, label {task.label!r}: {what}; {reads}"


# The command -------------------------------------------------------------------------------


def _check_output(out: Path, force: bool) -> None:
    from dlpipe.errors import DlpipeError

    if out.suffix not in (".yaml", ".yml"):
        raise DlpipeError(f"Output file {out} has suffix {out.suffix!r}. Expected a .yaml or "
                          f".yml file name.")
    if out.is_dir():
        raise DlpipeError(f"Output file {out} is a directory. Expected a file name.")
    if out.exists() and not force:
        raise DlpipeError(f"Output file {out} exists. Expected a new file name, or --force "
                          f"to overwrite it.")


def _same_task(a, b) -> bool:
    keys = ("kind", "label", "classes", "image_shape", "text", "numeric", "categorical",
            "audio", "sample_rate", "audio_samples", "user", "item", "top_k")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def main(args: argparse.Namespace) -> int:
    out = Path(args.output).expanduser()
    _check_output(out, args.force)  # before anything slow

    from dlpipe.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # the input check reads tf.Example; the builders are Keras

    from dlpipe.errors import DlpipeError
    from dlpipe.files import write_atomically
    from models.tasks import spec as s
    from pipeline.config import apply_overrides, config_from_data, load_config
    from pipeline.tasks import prepare, resolve_task

    user = apply_overrides({}, args.set)
    _absolute_paths(user)
    user_task = _section(user, "task")
    forced = args.kind or user_task.get("kind", "")
    if forced == s.RETRIEVAL:  # the item column is what a retrieval model predicts
        user_task["item"] = args.label or user_task.get("item") or "item_id"
        user["task"] = user_task
        label = user_task["item"]
    else:
        label = args.label or user_task.get("label") or "label"
    name = args.name or user.get("name") or out.stem

    probe_config, source, probed = _check(user, forced, label)
    profile = source.profile
    if forced not in (*s.GENERATIVE_KINDS, s.RETRIEVAL):
        _check_label(profile, label)
    if forced:
        kind, why, text, text_why = forced, "set with --kind", "", ""
        if kind == s.TEXT_CLASSIFICATION:
            text, text_why = text_column(profile, probe_config.task, user_task, label,
                                         probe_config)
    else:
        kind, why, text, text_why = guess_kind(profile, probe_config.task, user_task, label,
                                               probe_config)
        why = f"guessed: {why}"

    data = json.loads(json.dumps(user))
    data["name"] = name
    data["task"] = {**user_task, "kind": kind}
    if kind != s.RETRIEVAL:
        data["task"]["label"] = label
    if text:
        data["task"]["text"] = text
    config = config_from_data(data, Path.cwd())
    if kind != probed and config.ingest.kind == "tfds":
        from pipeline.ingest import check_source

        source = check_source(config)  # TFDS maps the features the kind reads
    task = resolve_task(config, source)

    text_out = compose(user, name, config, source, task, why, text_why, out)
    tmp = out.with_name(f".{out.stem}.dlpipe-init{out.suffix}")
    try:
        write_atomically(tmp, text_out)
        written = load_config(tmp)
        again = prepare(written).task
        if not _same_task(task, again):  # pragma: no cover - a bug in this module
            raise DlpipeError(f"The written config resolves to another task ({again}) than "
                              f"the one it was written for ({task}).")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"Config written: {out}")
    print(summarize(task))
    print(f"Next: dlpipe run --config {out}")
    return 0
