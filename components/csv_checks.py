"""Checks of CSV input before a pipeline hands it to TFX's CsvExampleGen.

CsvExampleGen reads every file under its ``input_base`` matching the split pattern; a
missing label column, an empty file or a short row otherwise surfaces as a Beam or Trainer
error far from its cause. ``check_csv`` reads the files once, streaming, and reports the
first problem in one line naming the file (and line) and what was expected.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
from collections.abc import Sequence
from pathlib import Path

from dlpipe.errors import DlpipeError


@dataclasses.dataclass(frozen=True)
class CsvSummary:
    """What a checked CSV input holds."""

    files: tuple[Path, ...]
    header: tuple[str, ...]
    rows: int
    """Data rows over all files (header lines not counted)."""


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


def check_csv(
    path: str | Path,
    label_column: str,
    required_columns: Sequence[str] = (),
    pattern: str = "*",
    delimiter: str = ",",
) -> CsvSummary:
    """Checks CSV input: files exist, headers agree and hold the label, rows are complete.

    Args:
      path: A CSV file, or a directory of CSV files (CsvExampleGen's ``input_base``).
      label_column: The label column the task trains on.
      required_columns: Other columns the task reads.
      pattern: Files to read in a directory (CsvExampleGen's split pattern; default all).
      delimiter: Field delimiter.

    Returns:
      The files, their header and the number of data rows.

    Raises:
      DlpipeError: a missing path, an empty file, a header without the label or a
        required column, files with different headers, a row with the wrong number of
        fields, or no data rows at all.
    """
    files = csv_files(path, pattern)
    header: tuple[str, ...] | None = None
    rows = 0
    for file in files:
        with open(file, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            try:
                this = tuple(c.strip() for c in next(reader))
            except StopIteration:
                raise DlpipeError(f"CSV file {file} is empty. Expected a header line with "
                                  f"the column {label_column!r}, then data rows.") from None
            except (csv.Error, UnicodeDecodeError) as e:
                raise DlpipeError(f"CSV file {file} cannot be read as CSV: {e}.") from None
            missing = [c for c in (label_column, *required_columns) if c not in this]
            if missing:
                raise _missing(missing, this, file)
            if header is not None and this != header:
                raise DlpipeError(
                    f"CSV file {file} has header {', '.join(this)}, but {files[0]} has "
                    f"{', '.join(header)}. Expected one header for all files of the input."
                )
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
                    rows += 1
            except (csv.Error, UnicodeDecodeError) as e:
                raise DlpipeError(f"CSV file {file} cannot be read as CSV near line "
                                  f"{reader.line_num}: {e}.") from None
    if rows == 0:
        where = files[0] if len(files) == 1 else f"{len(files)} files under {path}"
        raise DlpipeError(f"CSV input {where} has a header but no data rows. Expected at "
                          f"least one row.")
    return CsvSummary(tuple(files), header or (), rows)
