"""Turning an HTTP request into audio bytes and validated parameters, in either accepted form:
multipart/form-data (curl -F, HTML forms) or a raw audio/* body with the parameters in the query string
(what a browser's fetch(blob) sends)."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from service.errors import ApiError

RAW_AUDIO_TYPES = ("audio/", "application/octet-stream")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
"""What a number may look like in a form or query: Python's float() also takes '1_0', 'inf' and 'nan'.
Written so that no digit can be matched two ways: a pattern that backtracks takes quadratic time on a
long run of digits, on the event loop."""
MAX_NUMBER_CHARS = 64


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: float = Field(gt=0, allow_inf_nan=False, description="seconds of audio to generate")
    temperature: float = Field(1.0, gt=0, le=100, allow_inf_nan=False, description="softmax temperature")
    random_seed: int | None = Field(None, ge=0, lt=2**63, description="same seed, same audio; omitted: random")
    format: Literal["pcm16", "mulaw", "float32"] = Field("pcm16", description="WAV sample format")
    include_seed: bool = Field(False, description="prepend the (resampled, mu-law) seed to the output")


class LikelihoodParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hop_seconds: float = Field(0.01, ge=0.001, le=10, allow_inf_nan=False,
                               description="resolution of the curve (at least 1 ms: 120 s give 120,000 points)")


def validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "request"
        parts.append(f"{where}: {item['msg']}" if item["type"] != "extra_forbidden" else f"unknown field {where!r}")
    return "; ".join(parts)


def _one_value_each(items: list[tuple[str, str]], params: dict[str, str]) -> dict[str, str]:
    """Adds items to params; a name given twice (in the query, the form, or both) is refused rather than
    one of its values silently winning."""
    for key, value in items:
        if key in params:
            raise ApiError(422, "invalid_parameters", f"{key!r} is given more than once")
        params[key] = value
    return params


async def _require_closing_boundary(request: Request) -> None:
    """A multipart body cut short (no closing boundary at its end) would parse as a shorter file: refuse it."""
    match = re.search(r'boundary="?([^";,]+)', request.headers.get("content-type", ""), re.IGNORECASE)
    if match and not (await request.body()).rstrip(b"\r\n").endswith(b"--" + match.group(1).encode("latin-1") + b"--"):
        raise ApiError(400, "truncated_upload", "the multipart body does not end with its closing boundary: "
                                                "the upload was cut short")


async def read_inputs(request: Request, file_field: str) -> tuple[bytes | None, dict[str, str]]:
    """(audio bytes or None when absent, parameters as strings) from either request form."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    params = _one_value_each(request.query_params.multi_items(), {})
    if media == "multipart/form-data" or media == "application/x-www-form-urlencoded":
        if media == "multipart/form-data":
            await _require_closing_boundary(request)
        form = await request.form(max_files=1, max_fields=20)
        audio = None
        seen_file = False
        for key, value in form.multi_items():
            if key == file_field:
                if seen_file:
                    raise ApiError(422, "invalid_parameters", f"{file_field!r} is given more than once")
                seen_file = True
                if not isinstance(value, UploadFile):
                    raise ApiError(422, "invalid_audio", f"{file_field!r} must be an uploaded file")
                audio = await value.read()
            elif isinstance(value, UploadFile):
                raise ApiError(422, "unknown_field", f"unexpected file field {key!r}; send the audio as "
                                                     f"{file_field!r}")
            else:
                _one_value_each([(key, value)], params)
        await form.close()
        return audio, params
    if media.startswith(RAW_AUDIO_TYPES):
        return await request.body(), params
    if not media and not await request.body():
        return None, params
    raise ApiError(415, "unsupported_media_type",
                   f"content type {media or '(none)'} is not accepted: send multipart/form-data with a "
                   f"{file_field!r} file, or the audio itself as the body with an audio/* content type")


def parse_params(model: type[BaseModel], params: dict[str, str]) -> BaseModel:
    for name, field in model.model_fields.items():
        numeric = field.annotation in (float, int, int | None)
        if numeric and name in params and (len(params[name]) > MAX_NUMBER_CHARS
                                           or not PLAIN_NUMBER.fullmatch(params[name].strip())):
            raise ApiError(422, "invalid_parameters", f"{name}: {params[name][:MAX_NUMBER_CHARS]!r} is not a plain "
                                                      f"decimal number of at most {MAX_NUMBER_CHARS} characters")
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise ApiError(422, "invalid_parameters", validation_message(error)) from error
