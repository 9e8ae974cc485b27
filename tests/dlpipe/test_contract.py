"""The version-directory rule: what servers, pushers and the scorer count as a version."""

from __future__ import annotations

import pytest

from dlpipe.contract import MAX_VERSION, version_dirs, version_of


@pytest.mark.parametrize("name, version", [
    ("1", 1), ("42", 42), ("0", 0), ("007", 7), (str(MAX_VERSION), MAX_VERSION),
])
def test_ascii_digit_names_are_versions(name, version):
    assert version_of(name) == version


@pytest.mark.parametrize("name", [
    "", "²", "١٢", "-1", "+1", "1.0", "1e3", " 1", "v1", ".tmp-1", "model_cards",
    str(MAX_VERSION + 1), "9" * 5000,
])
def test_other_names_are_not_versions(name):
    assert version_of(name) is None


def test_version_dirs_lists_only_version_directories(tmp_path):
    for name in ("1", "3", "²", ".tmp-4", "model_cards", "99999999999999999999"):
        (tmp_path / name).mkdir()
    (tmp_path / "2").write_text("a file, not a version")
    assert version_dirs(tmp_path) == {1: tmp_path / "1", 3: tmp_path / "3"}
    assert version_dirs(tmp_path / "missing") == {}
