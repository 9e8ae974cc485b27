"""Serving errors carrying a canonical status code, mapped to gRPC and HTTP like TF Serving."""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """Canonical error codes (google.rpc.Code / tensorflow::error::Code)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# tensorflow_serving/model_servers/http_server.cc: ToHTTPStatusCode().
_HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.INVALID_ARGUMENT: 400,
    Code.FAILED_PRECONDITION: 400,
    Code.OUT_OF_RANGE: 400,
    Code.UNAUTHENTICATED: 401,
    Code.PERMISSION_DENIED: 403,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.ABORTED: 409,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.UNIMPLEMENTED: 501,
    Code.UNAVAILABLE: 503,
    Code.DEADLINE_EXCEEDED: 504,
}


def http_status(code: Code) -> int:
    """HTTP status TF Serving's REST server answers for a canonical code (else 500)."""
    return _HTTP_STATUS.get(code, 500)


class ServingError(Exception):
    """An error answered to a client: a canonical code and TF Serving's message.

    Attributes:
      code: The canonical status code.
      message: The message put in the REST ``{"error": ...}`` body or the gRPC details.
    """

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = Code(code)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def status_string(self) -> str:
        """``CODE: message``, as tensorflow::Status::ToString() prints it."""
        return f"{self.code.name}: {self.message}"


def invalid_argument(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message)
