"""check_csv on the Palmer penguins CSV (bundled with palmerpenguins) and on broken copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.csv_checks import check_csv
from dlpipe.errors import DlpipeError


@pytest.fixture
def penguins(tmp_path) -> Path:
    import palmerpenguins

    source = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    return Path(shutil.copy(source, tmp_path / "penguins.csv"))


def _error(*args, **kwargs) -> str:
    with pytest.raises(DlpipeError) as info:
        check_csv(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_penguins_file_and_directory(penguins):
    summary = check_csv(penguins, "species", required_columns=["bill_length_mm"])
    assert summary.rows == 344
    assert summary.header[:2] == ("species", "island")
    (penguins.parent / "more.csv").write_text(
        ",".join(summary.header) + "\nAdelie,Dream,39,18,190,3700,male,2009\n")
    both = check_csv(penguins.parent, "species")
    assert [p.name for p in both.files] == ["more.csv", "penguins.csv"]
    assert both.rows == 345


def test_missing_label_column_names_it_and_the_header(penguins):
    message = _error(penguins, "Species")
    assert f"CSV file {penguins} has no column 'Species'" in message
    assert "Header found: species, island, bill_length_mm" in message
    assert "'Species' -> 'species'?" in message


def test_missing_file_empty_file_and_no_rows(tmp_path):
    assert f"CSV input {tmp_path / 'nope.csv'} does not exist" in _error(
        tmp_path / "nope.csv", "label")
    assert "holds no files matching '*'" in _error(tmp_path, "label")
    (tmp_path / "empty.csv").write_text("")
    assert "is empty. Expected a header line, then data rows" in _error(
        tmp_path / "empty.csv", "label")
    (tmp_path / "header_only.csv").write_text("x,label\n\n")
    assert "has a header but no data rows" in _error(tmp_path / "header_only.csv", "label")


def test_short_row_and_different_headers(tmp_path):
    (tmp_path / "a.csv").write_text("x,label\n1,0\n2\n")
    assert "line 3 has 1 fields, expected 2" in _error(tmp_path / "a.csv", "label")
    (tmp_path / "a.csv").write_text("x,label\n1,0\n")
    (tmp_path / "b.csv").write_text("label,x\n0,1\n")
    message = _error(tmp_path, "label")
    assert f"CSV file {tmp_path / 'b.csv'} has header label, x" in message
