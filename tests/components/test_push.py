import json
import os

import pytest

from components.pusher import push


def _model(tmp_path, name="m"):
    d = tmp_path / name
    (d / "variables").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"pb")
    (d / "variables" / "variables.index").write_bytes(b"idx")
    return d


def test_consecutive_versions_and_provenance(tmp_path):
    base = tmp_path / "serving" / "digits"
    first = push.push_saved_model(_model(tmp_path, "a"), base, "uri-a", {"run": "r1"})
    second = push.push_saved_model(_model(tmp_path, "b"), base, "uri-b", {"run": "r2"})
    assert (first.pushed, first.version, second.version) == (True, 1, 2)
    assert push.versions(base) == [1, 2]
    record = json.loads((base / "2" / push.PUSH_RECORD).read_text())
    assert record["model_id"] == "uri-b" and record["run"] == "r2"
    assert (base / "2" / "saved_model.pb").read_bytes() == b"pb"


def test_the_latest_model_is_not_pushed_twice(tmp_path):
    base = tmp_path / "digits"
    model = _model(tmp_path)
    push.push_saved_model(model, base, "uri-a", {})
    again = push.push_saved_model(model, base, "uri-a", {})
    assert not again.pushed and again.version == 1 and "already serving" in again.reason
    assert push.versions(base) == [1]


def test_failed_copy_leaves_no_version(tmp_path):
    base = tmp_path / "digits"
    model = _model(tmp_path)
    unreadable = model / "variables" / "variables.index"
    os.chmod(unreadable, 0)
    if os.access(unreadable, os.R_OK):  # root reads anything: use a dangling symlink instead
        os.chmod(unreadable, 0o644)
        (model / "variables" / "broken").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError):
        push.push_saved_model(model, base, "uri-a", {})
    assert push.versions(base) == []
    assert not [p for p in base.iterdir() if p.name.startswith(push.TMP_PREFIX)]


def test_stale_temp_dirs_are_removed_and_never_versions(tmp_path):
    base = tmp_path / "digits"
    (base / ".tmp-1-dead").mkdir(parents=True)
    assert push.versions(base) == []
    push.push_saved_model(_model(tmp_path), base, "uri-a", {})
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == ["1"]


def test_rejects_a_directory_that_is_not_a_saved_model(tmp_path):
    with pytest.raises(ValueError, match="no saved_model.pb"):
        push.push_saved_model(tmp_path, tmp_path / "out", "x", {})
