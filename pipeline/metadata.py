"""The ML Metadata store a pipeline records into: SQLite (default) or MySQL/MariaDB.

``connection_config`` is the one place that turns ``config.metadata`` into MLMD's
``ConnectionConfig``; the pipeline factory, the runner, the run summary and ``dlpipe runs``
all use it. A MySQL password is read from the environment variable named by
``metadata.password_env`` when the connection is made, so it is never in a config file.
"""

from __future__ import annotations

import os
import socket

from dlpipe.errors import DlpipeError
from pipeline.config import PipelineConfig

CONNECT_TIMEOUT_S = 5.0


def connection_config(config: PipelineConfig, readonly: bool = False):
    """MLMD ``ConnectionConfig`` for ``config.metadata``.

    Args:
      config: The pipeline config.
      readonly: Open a SQLite store read-only (readers such as ``dlpipe runs``).

    Raises:
      DlpipeError: if the MySQL password variable named in the config is not set.
    """
    from ml_metadata.proto import metadata_store_pb2

    m = config.metadata
    cfg = metadata_store_pb2.ConnectionConfig()
    if m.store == "mysql":
        cfg.mysql.host = m.host
        cfg.mysql.port = m.port
        cfg.mysql.database = m.database
        cfg.mysql.user = m.user
        if m.password_env:
            password = os.environ.get(m.password_env)
            if password is None:
                raise DlpipeError(
                    f"The MySQL password variable {m.password_env} (metadata.password_env) is "
                    f"not set. Expected it to hold the password of {m.user}@{m.host}."
                )
            cfg.mysql.password = password
        return cfg
    if not readonly:
        config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    cfg.sqlite.filename_uri = str(config.metadata_path)
    cfg.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if readonly
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return cfg


def check_store(config: PipelineConfig) -> None:
    """Fails fast, before anything is written, when a MySQL store cannot be used.

    Raises:
      DlpipeError: one line naming the store and the cause (unreachable host, refused
        connection, bad credentials or database).
    """
    m = config.metadata
    if m.store != "mysql":
        return
    where = config.metadata_location
    try:
        # A plain TCP connect first: MLMD's client has no connect timeout of its own.
        with socket.create_connection((m.host, m.port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        cause = e.strerror or str(e) or type(e).__name__
        raise DlpipeError(
            f"ML Metadata store {where} is unreachable ({cause}). Expected a MySQL or "
            f"MariaDB server at metadata.host:metadata.port."
        ) from None
    open_store(config)


def open_store(config: PipelineConfig, readonly: bool = False):
    """An ``ml_metadata`` ``MetadataStore`` on the configured store.

    Raises:
      DlpipeError: if the store cannot be opened (one line with the cause).
    """
    from ml_metadata.metadata_store import metadata_store as mlmd

    if config.metadata.store == "sqlite" and readonly and not config.metadata_path.is_file():
        raise DlpipeError(
            f"No ML Metadata at {config.metadata_path}: no run has been recorded there yet "
            f"(check output_root or metadata.sqlite_path)."
        )
    cfg = connection_config(config, readonly=readonly)
    try:
        return mlmd.MetadataStore(cfg)
    except Exception as e:  # ml_metadata raises its own error types per backend
        lines = str(e).strip().splitlines()
        raise DlpipeError(
            f"Cannot open the ML Metadata store {config.metadata_location}: "
            f"{lines[0] if lines else type(e).__name__}"
        ) from None
