"""TF Serving config protos that the ``tensorflow-serving-api`` wheel does not ship.

The wheel has ``ModelServerConfig`` but not ``BatchingParameters``
(``tensorflow_serving/servables/tensorflow/session_bundle_config.proto``),
``MonitoringConfig`` (``tensorflow_serving/config/monitoring_config.proto``) nor ``SSLConfig``
(``tensorflow_serving/config/ssl_config.proto``). This module declares those messages
field for field (same package, names, numbers and types as the
TF Serving 2.x sources) in a private descriptor pool, so text-format files written or read
here are exactly what ``tensorflow_model_server`` parses.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_PACKAGE = "tensorflow.serving"
_F = descriptor_pb2.FieldDescriptorProto


def _field(msg: Any, name: str, number: int, ftype: int, type_name: str = "", repeated=False):
    f = msg.field.add(name=name, number=number, type=ftype)
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        f.type_name = type_name


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    batching = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    msg = batching.message_type.add(name="BatchingParameters")
    i64 = ".google.protobuf.Int64Value"
    _field(msg, "max_batch_size", 1, _F.TYPE_MESSAGE, i64)
    _field(msg, "batch_timeout_micros", 2, _F.TYPE_MESSAGE, i64)
    _field(msg, "max_enqueued_batches", 3, _F.TYPE_MESSAGE, i64)
    _field(msg, "num_batch_threads", 4, _F.TYPE_MESSAGE, i64)
    _field(msg, "thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue")
    _field(msg, "allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True)
    _field(msg, "pad_variable_length_inputs", 7, _F.TYPE_BOOL)
    pool.Add(batching)

    monitoring = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package=_PACKAGE,
        syntax="proto3",
    )
    prom = monitoring.message_type.add(name="PrometheusConfig")
    _field(prom, "enable", 1, _F.TYPE_BOOL)
    _field(prom, "path", 2, _F.TYPE_STRING)
    mon = monitoring.message_type.add(name="MonitoringConfig")
    _field(mon, "prometheus_config", 1, _F.TYPE_MESSAGE, f".{_PACKAGE}.PrometheusConfig")
    pool.Add(monitoring)

    ssl = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto", package=_PACKAGE, syntax="proto3",
    )
    msg = ssl.message_type.add(name="SSLConfig")
    _field(msg, "server_key", 1, _F.TYPE_STRING)
    _field(msg, "server_cert", 2, _F.TYPE_STRING)
    _field(msg, "custom_ca", 3, _F.TYPE_STRING)
    _field(msg, "client_verify", 4, _F.TYPE_BOOL)
    pool.Add(ssl)
    return pool


def _message_class(full_name: str) -> type:
    desc = _pool().FindMessageTypeByName(full_name)
    return message_factory.MessageFactory(_pool()).GetPrototype(desc)


def batching_parameters_class() -> type:
    """The ``tensorflow.serving.BatchingParameters`` message class."""
    return _message_class(f"{_PACKAGE}.BatchingParameters")


def monitoring_config_class() -> type:
    """The ``tensorflow.serving.MonitoringConfig`` message class."""
    return _message_class(f"{_PACKAGE}.MonitoringConfig")


def ssl_config_class() -> type:
    """The ``tensorflow.serving.SSLConfig`` message class (``--ssl_config_file``)."""
    return _message_class(f"{_PACKAGE}.SSLConfig")
