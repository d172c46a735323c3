"""The OpenAPI document is the contract: request bodies, query parameters and every response each route can
give, built for one Settings instance (the duration limit and whether API keys are on come from it).

The parameter constraints are GenerateParams' and LikelihoodParams' own (service/request_inputs.py), read
from their JSON schemas, so the document and the validation cannot drift apart. Every error is one JSON
shape, {"error": code, "detail": message} (service/errors.py); 499 (the client went away before its body was
complete) is left out: no client is there to see it. tests/test_openapi_contract.py holds a real server to
this document with schemathesis.
"""

from __future__ import annotations

import copy
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from model_core.audio_io import accepted_formats_text
from service.request_inputs import GenerateParams, LikelihoodParams
from service.settings import Settings

JSON = "application/json"
RAW_AUDIO_MEDIA_TYPES = ("audio/*", "application/octet-stream")
"""Raw-body content types the service takes as the audio itself (request_inputs.RAW_AUDIO_TYPES)."""


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="machine-readable code, e.g. invalid_parameters, busy, upload_too_large")
    detail: str = Field(description="what went wrong, for a person")


REQUEST_ID_HEADER = {"X-Request-Id": {
    "description": "the request's X-Request-Id header (at most 128 characters) or a new id; it names the request "
                   "in the server log", "schema": {"type": "string"}, "required": True}}
PROTOCOL_REQUEST_ID_HEADER = {"X-Request-Id": {**REQUEST_ID_HEADER["X-Request-Id"], "required": False}}
"""On 400 and 408, which the HTTP layer (service/http_protocol.py) also sends, for a malformed request or headers
that take too long, before any route (or request id) is reached."""
RETRY_AFTER_HEADER = {"Retry-After": {"description": "seconds to wait before trying again",
                                      "schema": {"type": "integer", "minimum": 0}, "required": True}}


def _error(description: str, headers: dict[str, Any] | None = None, request_id: dict = REQUEST_ID_HEADER
           ) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description, "headers": {**request_id, **(headers or {})}}


ERRORS: dict[int, dict[str, Any]] = {
    400: _error("`truncated_upload`: the multipart body ends before its closing boundary; `http_error`: a "
                "malformed multipart body, or more than 20 fields or 1 file in it; `bad_request`: a malformed "
                "HTTP request", request_id=PROTOCOL_REQUEST_ID_HEADER),
    401: _error("`unauthorized`: the server has API keys and none of them was given (`Authorization: Bearer KEY` "
                "or `X-API-Key: KEY`)",
                {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}, "required": True}}),
    408: _error("`upload_stalled`: the client sent no request data for the body idle timeout before the body "
                "was complete; `request_timeout`: the request headers took longer than the header timeout",
                request_id=PROTOCOL_REQUEST_ID_HEADER),
    413: _error("`upload_too_large`: the body is larger than the upload limit; `audio_too_long`: the decoded "
                "audio is longer than the limit for it (see GET /info, `limits`)"),
    415: _error("`unsupported_media_type`: the body is neither multipart/form-data (or a urlencoded form) nor "
                "raw audio (`audio/*`, `application/octet-stream`)"),
    422: _error("`invalid_parameters`: a parameter is missing, out of range, not a plain number, unknown or given "
                "twice (in the query and the form together, too); `invalid_audio`: the audio is missing, "
                "undecodable or too short; `unknown_field`: a file under another field name"),
    503: _error("`not_ready`: the model is still loading; `busy`: every stream slot, queue place or decoder is "
                "taken; `draining`: the server is shutting down. Retry after Retry-After seconds.",
                RETRY_AFTER_HEADER),
}
UPLOAD_ERRORS = (400, 401, 408, 413, 415, 422, 503)
"""What POST /generate and POST /likelihood can answer besides 200."""


def _errors(settings: Settings, *statuses: int) -> dict[int, dict[str, Any]]:
    """The error responses given; 401 only where the server checks API keys."""
    return {status: ERRORS[status] for status in statuses if status != 401 or settings.api_keys}


def _ok(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None,
        media_type: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": schema}},
            "headers": {**REQUEST_ID_HEADER, **(headers or {})}}


def _object(properties: dict[str, Any], additional: bool = False) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": additional}


INTEGER, NUMBER, STRING = {"type": "integer"}, {"type": "number"}, {"type": "string"}


def healthz_responses(settings: Settings) -> dict[int | str, dict[str, Any]]:
    return {200: _ok("the process is up", _object({"status": {"const": "ok"}}))}


def readyz_responses(settings: Settings) -> dict[int | str, dict[str, Any]]:
    return {200: _ok("the model is loaded and warmed up", _object({"status": {"const": "ready"}})),
            **_errors(settings, 503)}


def metrics_responses(settings: Settings) -> dict[int | str, dict[str, Any]]:
    # With the route's response_class=Response FastAPI adds no JSON content of its own for 200.
    return {200: _ok(f"the Prometheus text exposition format (`{CONTENT_TYPE_LATEST}`)",
                     {"type": "string"}, media_type="text/plain"),
            **_errors(settings, *(() if settings.public_metrics else (401,)))}


def info_responses(settings: Settings) -> dict[int | str, dict[str, Any]]:
    info = _object({
        "sample_rate": INTEGER,
        "receptive_field": INTEGER,
        "config": {"type": "object", "description": "the model's WaveNetConfig"},
        "checkpoint": _object({"path": STRING, "sha256": STRING,
                               "metadata": {"type": "object", "description": "what the checkpoint records: "
                                            "training data, held-out NLL, code version"}}),
        "engine": _object({"backend": STRING, "device": STRING,
                           "measured_samples_per_second": {"type": "object", "additionalProperties": NUMBER},
                           "workers": INTEGER, "streams_per_worker": INTEGER,
                           "realtime_streams": INTEGER, "live_streams_limit": INTEGER,
                           "min_realtime_factor": NUMBER}),
        "limits": _object({"max_duration_seconds": NUMBER, "max_temperature": NUMBER, "max_seed_seconds": NUMBER,
                           "max_likelihood_seconds": NUMBER, "max_upload_bytes": INTEGER}),
    })
    return {200: _ok("the loaded model and the server's limits", info), **_errors(settings, 401, 503)}


def generate_responses(settings: Settings) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": "the continuation as a WAV file, streamed while it is generated. Its length is "
                             "known up front (Content-Length); a stream the server has to stop early (request "
                             "timeout) ends short of it.",
              "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
              "headers": {**REQUEST_ID_HEADER,
                          "X-Sample-Rate": {"description": "samples per second of the WAV",
                                            "schema": INTEGER, "required": True},
                          "X-Random-Seed": {"description": "the random_seed used (drawn when none was given)",
                                            "schema": {"type": "integer", "minimum": 0}, "required": True}}},
        **_errors(settings, *UPLOAD_ERRORS),
    }


def likelihood_responses(settings: Settings) -> dict[int | str, dict[str, Any]]:
    result = _object({
        "sample_rate": INTEGER,
        "samples_scored": {"type": "integer", "minimum": 0},
        "total_nll_nats": NUMBER,
        "bits_per_sample": {"type": ["number", "null"], "description": "mean negative log-likelihood in bits"},
        "curve": _object({"hop_seconds": NUMBER,
                          "bits_per_sample": {"type": "array", "items": NUMBER,
                                              "description": "the mean over each hop"}}),
    })
    return {200: _ok("bits per sample under the model, and a curve over time", result),
            **_errors(settings, *UPLOAD_ERRORS)}


def _field_schemas(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """model's fields as form/query values: JSON-schema constraints, no `null` (a form cannot send one)."""
    properties = copy.deepcopy(model.model_json_schema()["properties"])
    for schema in properties.values():
        schema.pop("title", None)
        options = schema.pop("anyOf", None)
        if options:  # `int | None`: absent means None
            (value,) = [option for option in options if option.get("type") != "null"]
            schema.update(value)
            if "default" in schema and schema["default"] is None:
                del schema["default"]
    return properties


def _query_parameters(properties: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": schema,
             "description": f"{schema.get('description', name)}. For a raw audio body or none; with a form, send it "
                            "as a form field instead (a name given in both is refused)"}
            for name, schema in properties.items()]


def _upload_doc(properties: dict[str, dict[str, Any]], required: list[str], file_field: str, file_doc: str,
                file_required: bool) -> dict[str, Any]:
    form = {"type": "object", "properties": {file_field: {"type": "string", "format": "binary",
                                                          "description": file_doc}, **properties},
            "required": [file_field, *required] if file_required else required, "additionalProperties": False}
    raw = {"schema": {"type": "string", "format": "binary"},
           "description": "the audio file itself as the body; the parameters in the query string"}
    return {
        "requestBody": {
            "required": file_required,
            "description": f"multipart/form-data with the audio as the file field `{file_field}` and the "
                           f"parameters as form fields, or the audio itself as the body (`audio/*`, e.g. what a "
                           f"browser's fetch(blob) sends) with the parameters as query parameters",
            "content": {"multipart/form-data": {"schema": form},
                        **{media_type: copy.deepcopy(raw) for media_type in RAW_AUDIO_MEDIA_TYPES}},
        },
        "parameters": _query_parameters(properties),
    }


def generate_doc(settings: Settings) -> dict[str, Any]:
    """openapi_extra of POST /generate: the body in both forms and the query parameters."""
    properties = _field_schemas(GenerateParams)
    properties["duration"]["maximum"] = settings.max_duration_seconds
    properties["duration"]["description"] += f" (at most {settings.max_duration_seconds:g})"
    required = [name for name, field in GenerateParams.model_fields.items() if field.is_required()]
    doc = _upload_doc(properties, required, "seed",
                      f"seed audio ({accepted_formats_text()}), at most {settings.max_seed_seconds:g} s; "
                      "omitted: silence", file_required=False)
    doc["requestBody"]["description"] += "; with no body at all (every parameter in the query) there is no seed"
    return doc


def likelihood_doc(settings: Settings) -> dict[str, Any]:
    """openapi_extra of POST /likelihood: the body in both forms and the query parameters."""
    required = [name for name, field in LikelihoodParams.model_fields.items() if field.is_required()]
    return _upload_doc(_field_schemas(LikelihoodParams), required, "audio",
                       f"the audio to score ({accepted_formats_text()}), at most "
                       f"{settings.max_likelihood_seconds:g} s", file_required=True)
