"""Checks of CSV input before a pipeline hands it to TFX's CsvExampleGen.

CsvExampleGen reads every file under its ``input_base`` matching the split pattern; a
missing label column, an empty file or a short row otherwise surfaces as a Beam or Trainer
error far from its cause. ``check_csv`` reads the files once, streaming, reports the first
problem in one line naming the file (and line) and what was expected, and profiles each
column the way CsvExampleGen will type it (for the task's resolution).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
from collections.abc import Sequence
from pathlib import Path

from dlpipe.errors import DlpipeError
from models.tasks.spec import DISTINCT_CAP, FLOAT, INT, STRING, Column


@dataclasses.dataclass(frozen=True)
class CsvSummary:
    """What a checked CSV input holds."""

    files: tuple[Path, ...]
    header: tuple[str, ...]
    rows: int
    """Data rows over all files (header lines not counted)."""
    columns: dict[str, Column] = dataclasses.field(default_factory=dict)
    """Each column's type (as CsvExampleGen infers it), counts and distinct values."""


def csv_files(path: str | Path, pattern: str = "*") -> list[Path]:
    """The files CsvExampleGen reads: ``path`` itself, or the files in it matching ``pattern``.

    Raises:
      DlpipeError: ``path`` is missing, or a directory without matching files.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise DlpipeError(f"CSV input {path} does not exist. Expected a CSV file or a "
                          f"directory of CSV files.")
    files = sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DlpipeError(f"CSV input directory {path} holds no files matching {pattern!r}. "
                          f"Expected CSV files with a header line.")
    return files


def _missing(columns: Sequence[str], header: Sequence[str], path: Path) -> DlpipeError:
    hints = []
    for column in columns:
        close = difflib.get_close_matches(column, header, n=1, cutoff=0.6)
        if close:
            hints.append(f"{column!r} -> {close[0]!r}?")
    hint = f" Close: {', '.join(hints)}." if hints else ""
    return DlpipeError(
        f"CSV file {path} has no column {', '.join(map(repr, columns))}. Header found: "
        f"{', '.join(header)}.{hint}"
    )


_INT64 = (-(2**63), 2**63 - 1)


def value_type(value: str) -> str:
    """A CSV field's type as CsvExampleGen infers it (tfx_bsl's csv_decoder): ``int``,
    ``float`` or ``string``; a long integer outside int64 is a string."""
    try:
        number = int(value)
    except ValueError:
        try:
            float(value)
        except ValueError:
            return STRING
        return FLOAT
    return INT if _INT64[0] <= number <= _INT64[1] else STRING


_RANK = {INT: 0, FLOAT: 1, STRING: 2}


class _ColumnStats:
    """Types, counts and distinct values of one column, streaming."""

    def __init__(self, name: str) -> None:
        self.name, self.type, self.present, self.missing = name, "", 0, 0
        self.values: set[str] | None = set()

    def add(self, value: str) -> None:
        if value == "":
            self.missing += 1
            return
        self.present += 1
        kind = value_type(value)
        if not self.type or _RANK[kind] > _RANK[self.type]:
            self.type = kind
        if self.values is not None:
            self.values.add(value)
            if len(self.values) > DISTINCT_CAP:
                self.values = None

    def column(self) -> Column:
        kind = self.type or STRING
        if self.values is None:
            return Column(self.name, kind, self.present, self.missing, None, ())
        if kind == INT:
            values = tuple(sorted({int(v) for v in self.values}))
        elif kind == FLOAT:
            values = tuple(sorted({float(v) for v in self.values}))
        else:
            values = tuple(sorted(self.values))
        return Column(self.name, kind, self.present, self.missing, len(values), values)


def check_csv(
    path: str | Path,
    label_column: str = "",
    required_columns: Sequence[str] = (),
    pattern: str = "*",
    delimiter: str = ",",
) -> CsvSummary:
    """Checks CSV input and profiles its columns (as CsvExampleGen will type them).

    Args:
      path: A CSV file, or a directory of CSV files (CsvExampleGen's ``input_base``).
      label_column: A column that must be present (empty: none in particular).
      required_columns: Other columns that must be present.
      pattern: Files to read in a directory (CsvExampleGen's split pattern; default all).
      delimiter: Field delimiter.

    Returns:
      The files, their header, the number of data rows and each column's profile.

    Raises:
      DlpipeError: a missing path, an empty file, a header without a required column,
        files with different headers, a row with the wrong number of fields, or no data
        rows at all.
    """
    files = csv_files(path, pattern)
    header: tuple[str, ...] | None = None
    stats: list[_ColumnStats] = []
    rows = 0
    required = [c for c in (label_column, *required_columns) if c]
    for file in files:
        with open(file, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            try:
                this = tuple(c.strip() for c in next(reader))
            except StopIteration:
                raise DlpipeError(f"CSV file {file} is empty. Expected a header line, then "
                                  f"data rows.") from None
            except (csv.Error, UnicodeDecodeError) as e:
                raise DlpipeError(f"CSV file {file} cannot be read as CSV: {e}.") from None
            missing = [c for c in required if c not in this]
            if missing:
                raise _missing(missing, this, file)
            if header is not None and this != header:
                raise DlpipeError(
                    f"CSV file {file} has header {', '.join(this)}, but {files[0]} has "
                    f"{', '.join(header)}. Expected one header for all files of the input."
                )
            if header is None:
                stats = [_ColumnStats(c) for c in this]
            header = this
            try:
                for fields in reader:
                    if not fields:
                        continue  # a blank line
                    if len(fields) != len(header):
                        raise DlpipeError(
                            f"CSV file {file} line {reader.line_num} has {len(fields)} fields, "
                            f"expected {len(header)} (header: {', '.join(header)})."
                        )
                    for column, value in zip(stats, fields, strict=True):
                        column.add(value)
                    rows += 1
            except (csv.Error, UnicodeDecodeError) as e:
                raise DlpipeError(f"CSV file {file} cannot be read as CSV near line "
                                  f"{reader.line_num}: {e}.") from None
    if rows == 0:
        where = files[0] if len(files) == 1 else f"{len(files)} files under {path}"
        raise DlpipeError(f"CSV input {where} has a header but no data rows. Expected at "
                          f"least one row.")
    return CsvSummary(tuple(files), header or (), rows, {c.name: c.column() for c in stats})
