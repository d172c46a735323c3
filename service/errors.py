"""Every error the service answers with: typed, each mapped once to its HTTP status and JSON body
{"error": code, "detail": message}.

Code below the routes raises these (or the core's AudioError family); `install_error_handlers` turns them
into responses. The few answers written below the ASGI app (a refused API key, an oversized upload, an
h11 protocol error, a refused CORS preflight) build the same body with `error_body`.
"""

from __future__ import annotations

import json
import logging
from typing import ClassVar

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from model_core.audio_io import AudioError, AudioTooLong

log = logging.getLogger("wavenet.service")
RETRY_AFTER_SECONDS = "2"


def error_body(code: str, detail: str) -> bytes:
    return json.dumps({"error": code, "detail": detail}).encode()


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(code, detail), status, headers, media_type="application/json")


class ServiceError(Exception):
    """An error the client can act on: its class says the status and the code, the message the detail."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    headers: ClassVar[dict[str, str] | None] = None

    @property
    def detail(self) -> str:
        return str(self)


class InvalidParameters(ServiceError):
    status, code = 422, "invalid_parameters"


class InvalidAudio(ServiceError):
    status, code = 422, "invalid_audio"


class UnknownField(ServiceError):
    status, code = 422, "unknown_field"


class TruncatedUpload(ServiceError):
    status, code = 400, "truncated_upload"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class UploadTooLarge(ServiceError):
    status, code, headers = 413, "upload_too_large", {"Connection": "close"}


class UploadStalled(ServiceError):
    status, code, headers = 408, "upload_stalled", {"Connection": "close"}


class Unavailable(ServiceError):
    """503 with Retry-After: the request was fine, the server cannot take it now."""

    status, code, headers = 503, "busy", {"Retry-After": RETRY_AFTER_SECONDS}


class QueueFull(Unavailable):
    """Every stream slot and every place in the waiting queue is taken."""


class ScorerFull(Unavailable):
    """The /likelihood scorer and its queue are full."""


class DecodersBusy(Unavailable):
    """Every audio decoder and its queue are taken."""


class UploadsBusy(Unavailable):
    """As many request bodies as allowed are arriving already."""


class ShuttingDown(Unavailable):
    """The engine stopped (server shutdown) before or while the stream ran."""


class Draining(Unavailable):
    """SIGTERM arrived: live streams finish, new work goes to another replica."""

    code = "draining"


class NotReady(Unavailable):
    code = "not_ready"


class StreamTimedOut(ServiceError):
    """A stream ran past the request timeout and was stopped (its headers are gone: the body ends short)."""

    status, code = 504, "stream_timeout"


_CORE_ERRORS: dict[type[Exception], tuple[int, str]] = {
    AudioTooLong: (413, "audio_too_long"),
    AudioError: (422, "invalid_audio"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_: Request, error: ServiceError) -> Response:
        return error_response(error.status, error.code, error.detail, error.headers)

    for kind, (status, code) in _CORE_ERRORS.items():
        async def core_error(_: Request, error: Exception, status: int = status, code: str = code) -> Response:
            return error_response(status, code, str(error))

        app.add_exception_handler(kind, core_error)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> Response:
        # Nobody is left to read an answer; 499 (nginx's "client closed request") keeps it out of 5xx alerts.
        log.info("client closed request %s before its body was complete", request.state.request_id)
        return Response(status_code=499)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> Response:
        return error_response(error.status_code, "http_error", str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> Response:
        return error_response(422, "invalid_parameters", str(error.errors()))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error in %s", request.url.path)
        return error_response(500, "internal_error", "unexpected server error; see the server log")
