"""TLS from ``--ssl_config_file`` on both APIs: a client with the CA gets answers, one
without it is refused, and with ``client_verify`` a client without a certificate is refused.

Certificates are made here with ``cryptography`` (in the lock file, through google-auth).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import tensors
from serving.config import ServingConfigError
from serving.server import ModelServer, ServerOptions
from serving.tls import read_ssl_config, write_ssl_config
from tests.conftest import DLPIPE, REPO
from tests.serving.conftest import free_port


def _pem_key(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _certificate(name: str, key, issuer_name, issuer_key, *, ca: bool = False,
                 server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an
    unrelated CA; everything PEM text, also written to files for ``requests``."""
    out = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlpipe test CA")])
    ca = _certificate("dlpipe test CA", ca_key, ca_name, ca_key, ca=True)
    for who, server in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        out[f"{who}_key"] = _pem_key(key)
        out[f"{who}_cert"] = _pem_cert(_certificate(who, key, ca_name, ca_key, server=server))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another CA")])
    out["other_ca"] = _pem_cert(_certificate("another CA", other_key, other_name, other_key,
                                             ca=True))
    out["ca"] = _pem_cert(ca)
    root = tmp_path_factory.mktemp("pki")
    for name, text in list(out.items()):
        (root / f"{name}.pem").write_text(text)
        out[f"{name}_file"] = str(root / f"{name}.pem")
    return out


def _server(serving_root: Path, pki: dict, tmp_path: Path, client_verify: bool) -> ModelServer:
    config = write_ssl_config(tmp_path / "ssl.config", pki["server_key"], pki["server_cert"],
                              custom_ca=pki["ca"], client_verify=client_verify)
    return ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_name="regress",
        model_base_path=str(serving_root / "regress"), poll_seconds=0,
        ssl_config_file=str(config))).start()


def _predict_request() -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "regress"
    request.inputs["x"].CopyFrom(tensors.make_tensor_proto(np.array([2.0], np.float32)))
    return request


def _grpc_predict(port: int, credentials: grpc.ChannelCredentials | None) -> float:
    target = f"127.0.0.1:{port}"
    channel = (grpc.secure_channel(target, credentials) if credentials
               else grpc.insecure_channel(target))
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(_predict_request(), timeout=10)
        return float(tensors.make_ndarray(response.outputs["y"])[0])
    finally:
        channel.close()


def _rest_predict(port: int, **kwargs) -> float:
    resp = requests.post(f"https://127.0.0.1:{port}/v1/models/regress:predict",
                         data=json.dumps({"instances": [2.0]}), timeout=10, **kwargs)
    assert resp.status_code == 200, resp.text
    return resp.json()["predictions"][0]


def test_clients_with_the_ca_get_answers_and_others_are_refused(serving_root, pki,
                                                                 tmp_path) -> None:
    srv = _server(serving_root, pki, tmp_path, client_verify=False)
    try:
        ca = pki["ca"].encode()
        assert _grpc_predict(srv.grpc_port, grpc.ssl_channel_credentials(ca)) == 3.0
        assert _rest_predict(srv.rest_port, verify=pki["ca_file"]) == 3.0
        for credentials in (None, grpc.ssl_channel_credentials(pki["other_ca"].encode())):
            with pytest.raises(grpc.RpcError) as err:
                _grpc_predict(srv.grpc_port, credentials)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(requests.exceptions.SSLError):
            _rest_predict(srv.rest_port, verify=pki["other_ca_file"])
        with pytest.raises(requests.exceptions.ConnectionError):  # plain HTTP
            requests.get(f"http://127.0.0.1:{srv.rest_port}/v1/models/regress", timeout=10)
    finally:
        srv.stop(grace=0.1)


def test_client_verify_refuses_clients_without_a_certificate(serving_root, pki,
                                                              tmp_path) -> None:
    srv = _server(serving_root, pki, tmp_path, client_verify=True)
    try:
        ca = pki["ca"].encode()
        with_cert = grpc.ssl_channel_credentials(ca, pki["client_key"].encode(),
                                                 pki["client_cert"].encode())
        assert _grpc_predict(srv.grpc_port, with_cert) == 3.0
        assert _rest_predict(srv.rest_port, verify=pki["ca_file"],
                             cert=(pki["client_cert_file"], pki["client_key_file"])) == 3.0
        with pytest.raises(grpc.RpcError) as err:
            _grpc_predict(srv.grpc_port, grpc.ssl_channel_credentials(ca))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(requests.exceptions.ConnectionError):  # SSLError is a subclass
            _rest_predict(srv.rest_port, verify=pki["ca_file"])
    finally:
        srv.stop(grace=0.1)


def test_dlpipe_predict_with_a_client_certificate(serving_root, pki, tmp_path,
                                                  capsys) -> None:
    from pipeline import cli

    srv = _server(serving_root, pki, tmp_path, client_verify=True)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [2.0]}))
    try:
        for transport, port in (([], srv.rest_port), (["--grpc"], srv.grpc_port)):
            args = ["predict", "--model", "regress", "--input", str(request),
                    f"--port={port}", *transport, "--ca_cert", pki["ca_file"]]
            assert cli.main(args + ["--client_cert", pki["client_cert_file"], "--client_key",
                                    pki["client_key_file"]]) == 0
            out = json.loads(capsys.readouterr().out)
            assert (out.get("predictions") or out["outputs"]["y"]) == [3.0]
            assert cli.main(args) == 1  # no client certificate: refused
            assert "UNAVAILABLE" in capsys.readouterr().err
    finally:
        srv.stop(grace=0.1)


def test_bad_ssl_config_files_fail_at_start_with_one_line(serving_root, pki,
                                                          tmp_path) -> None:
    cases = {
        "paths.config": ('server_key: "/etc/key.pem"\nserver_cert: "/etc/cert.pem"\n',
                         "server_key and server_cert must hold PEM text"),
        "verify.config": (None, "client_verify: true needs custom_ca"),
        "mismatch.config": (None, "do not form a usable key pair"),
    }
    write_ssl_config(tmp_path / "verify.config", pki["server_key"], pki["server_cert"],
                     client_verify=True)
    write_ssl_config(tmp_path / "mismatch.config", pki["client_key"], pki["server_cert"])
    (tmp_path / "paths.config").write_text(cases["paths.config"][0])
    for name, (_, message) in cases.items():
        with pytest.raises(ServingConfigError, match=message):
            read_ssl_config(tmp_path / name)
    result = subprocess.run(
        [str(DLPIPE), "serve", f"--port={free_port()}", "--rest_api_port=0",
         f"--model_base_path={serving_root / 'regress'}",
         f"--ssl_config_file={tmp_path / 'verify.config'}"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "client_verify: true needs custom_ca" in result.stderr.strip().splitlines()[-1]
