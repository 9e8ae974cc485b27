"""ML Metadata in a shared MySQL/MariaDB store, end to end against a real server.

`.ci/run` starts MariaDB on loopback and names it in DLPIPE_TEST_MYSQL_* variables; without
them the test skips, saying so. Two runs share the store: the second reuses the first's
cached executions (MLMD reads work), and `dlpipe runs` lists both with their state, blessing
and pushed version (the run-state properties fit MySQL's column types).
"""

from __future__ import annotations

import os
import uuid

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("DLPIPE_TEST_MYSQL_HOST"),
        reason="no MySQL/MariaDB server named in DLPIPE_TEST_MYSQL_HOST (.ci/run starts one)",
    ),
]


def test_two_runs_share_a_mysql_store(cli, tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    env = os.environ
    database = f"dlpipe_{uuid.uuid4().hex[:8]}"  # MLMD creates it
    sets = [
        f"output_root={tmp_path}", "metadata.store=mysql",
        f"metadata.host={env['DLPIPE_TEST_MYSQL_HOST']}",
        f"metadata.port={env.get('DLPIPE_TEST_MYSQL_PORT', '3306')}",
        f"metadata.database={database}", f"metadata.user={env['DLPIPE_TEST_MYSQL_USER']}",
        "metadata.password_env=DLPIPE_TEST_MYSQL_PASSWORD",
        "train.train_steps=150", "edge.enabled=false", "infra_validate.enabled=false",
    ]
    args = [a for s in sets for a in ("--set", s)]
    first = cli("run", *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pushed:   version 1" in first.stdout
    assert "mysql://" in first.stdout
    second = cli("run", *args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already serving as version 1" in second.stdout
    assert "Trainer                          cached" in second.stdout

    runs = cli("runs", *args)
    assert runs.returncode == 0, runs.stdout + runs.stderr
    rows = [line.split() for line in runs.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 2, runs.stdout
    assert rows[0][5:9] == ["complete", "0", "yes", "v1"], rows[0]  # span 0: no {SPAN}
    assert rows[1][5] == "complete", rows[1]

    # The store really is the server's: its pipeline_run contexts are there.
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.mysql.host = env["DLPIPE_TEST_MYSQL_HOST"]
    cfg.mysql.port = int(env.get("DLPIPE_TEST_MYSQL_PORT", "3306"))
    cfg.mysql.database = database
    cfg.mysql.user = env["DLPIPE_TEST_MYSQL_USER"]
    cfg.mysql.password = env["DLPIPE_TEST_MYSQL_PASSWORD"]
    store = metadata_store.MetadataStore(cfg)
    assert len(store.get_contexts_by_type("pipeline_run")) == 2
    assert not list(tmp_path.glob("metadata/*.sqlite"))
