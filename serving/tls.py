"""TLS for both APIs from TF Serving's ``--ssl_config_file`` (a text-format ``SSLConfig``).

The file holds PEM *contents*, not paths, exactly as ``tensorflow_model_server`` reads it::

    server_key: "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"
    server_cert: "-----BEGIN CERTIFICATE-----\\n...\\n-----END CERTIFICATE-----\\n"
    custom_ca: "-----BEGIN CERTIFICATE-----\\n...\\n-----END CERTIFICATE-----\\n"
    client_verify: true

TF Serving applies it to gRPC only; dlpipe applies the same keys to the REST API too (HTTPS),
so neither port is left in plaintext. ``client_verify: true`` makes both refuse a client that
does not present a certificate signed by ``custom_ca``.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from serving.config import ServingConfigError


@dataclasses.dataclass(frozen=True)
class TlsConfig:
    """The PEM material of an ``SSLConfig``.

    Attributes:
      server_key: The server's private key (PEM).
      server_cert: The server's certificate chain (PEM).
      custom_ca: CA certificates clients' certificates are checked against (PEM).
      client_verify: Require a client certificate signed by ``custom_ca``.
    """

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False

    def grpc_credentials(self) -> Any:
        """``grpc.ServerCredentials`` as TF Serving's BuildServerCredentials makes them."""
        import grpc

        return grpc.ssl_server_credentials(
            [(self.server_key.encode(), self.server_cert.encode())],
            root_certificates=self.custom_ca.encode() if self.custom_ca else None,
            require_client_auth=self.client_verify,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The REST server's ``ssl.SSLContext`` (TLS 1.2 or later)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain reads files only: the PEM goes through a private temp dir.
        with tempfile.TemporaryDirectory(prefix="dlpipe-tls-") as tmp:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            cert.write_text(self.server_cert)
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.server_key)
            try:
                context.load_cert_chain(cert, key)
            except ssl.SSLError as e:
                raise ServingConfigError(
                    f"server_key and server_cert do not form a usable key pair: {e}"
                ) from None
        if self.custom_ca:
            try:
                context.load_verify_locations(cadata=self.custom_ca)
            except ssl.SSLError as e:
                raise ServingConfigError(f"custom_ca is not a PEM certificate: {e}") from None
        context.verify_mode = ssl.CERT_REQUIRED if self.client_verify else ssl.CERT_NONE
        return context


def read_ssl_config(path: Path) -> TlsConfig:
    """Reads and checks an ``--ssl_config_file``.

    Raises:
      ServingConfigError: The file is missing, is not a text-format SSLConfig, lacks the
        key or certificate, or asks for client verification without a CA.
    """
    from serving import protos

    path = Path(path)
    try:
        proto = text_format.Parse(path.read_text(), protos.ssl_config_class()())
    except (OSError, text_format.ParseError) as e:
        raise ServingConfigError(f"{path} is not a text-format SSLConfig: {e}") from None
    missing = [k for k in ("server_key", "server_cert") if "-----BEGIN" not in getattr(proto, k)]
    if missing:
        raise ServingConfigError(
            f"{path}: {' and '.join(missing)} must hold PEM text (-----BEGIN ...), not a path "
            "or nothing. Expected: server_key: \"-----BEGIN PRIVATE KEY-----\\n...\" and "
            "server_cert: \"-----BEGIN CERTIFICATE-----\\n...\""
        )
    if proto.client_verify and "-----BEGIN" not in proto.custom_ca:
        raise ServingConfigError(
            f"{path}: client_verify: true needs custom_ca (the PEM of the CA that signs "
            "client certificates)."
        )
    config = TlsConfig(proto.server_key, proto.server_cert, proto.custom_ca,
                       proto.client_verify)
    config.ssl_context()  # a key that does not match its certificate fails here, at start
    return config


def write_ssl_config(path: Path, server_key: str, server_cert: str, custom_ca: str = "",
                     client_verify: bool = False) -> Path:
    """Writes an ``SSLConfig`` text file (mode 0600: it holds a private key)."""
    from serving import protos

    proto = protos.ssl_config_class()(server_key=server_key, server_cert=server_cert,
                                      custom_ca=custom_ca, client_verify=client_verify)
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text_format.MessageToString(proto))
    return path
