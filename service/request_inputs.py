"""Turning an HTTP request into audio bytes and validated parameters, in either accepted form:
multipart/form-data (curl -F, HTML forms) or a raw audio/* body with the parameters in the query string
(what a browser's fetch(blob) sends)."""

from __future__ import annotations

import re
import secrets
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from starlette.datastructures import UploadFile

from model_core.inference.draws import StreamParams
from model_core.wav_format import WavFormat
from service.errors import InvalidAudio, InvalidParameters, TruncatedUpload, UnknownField, UnsupportedMediaType

RAW_AUDIO_TYPES = ("audio/", "application/octet-stream")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
"""What a number may look like in a form or query: Python's float() also takes '1_0', 'inf' and 'nan'.
Written so that no digit can be matched two ways: a pattern that backtracks takes quadratic time on a
long run of digits, on the event loop."""
MAX_NUMBER_CHARS = 64
MAX_TEMPERATURE = 100.0


class GenerateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: float = Field(gt=0, allow_inf_nan=False, description="seconds of audio to generate")
    temperature: float = Field(1.0, gt=0, le=MAX_TEMPERATURE, allow_inf_nan=False, description="softmax temperature")
    random_seed: int | None = Field(None, ge=0, lt=2**63, description="same seed, same audio; omitted: random")
    format: WavFormat = Field("pcm16", description="WAV sample format")
    include_seed: bool = Field(False, description="prepend the (resampled, mu-law) seed to the output")

    def stream_params(self) -> StreamParams:
        """The stream's draw parameters; without a random_seed the server picks one (sent back in
        X-Random-Seed, so the same bytes can be asked for again)."""
        seed = self.random_seed if self.random_seed is not None else secrets.randbits(63)
        return StreamParams(self.temperature, seed)

    def num_samples(self, sample_rate: int) -> int:
        return max(1, round(self.duration * sample_rate))

    @field_validator("duration")
    @classmethod
    def within_the_server_limit(cls, duration: float, info: ValidationInfo) -> float:
        """The server's own limit (Settings.max_duration_seconds), given as validation context."""
        limit = (info.context or {}).get("max_duration_seconds")
        if limit is not None and duration > limit:
            raise ValueError(f"at most {limit:g} s")
        return duration


class LikelihoodParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hop_seconds: float = Field(0.01, ge=0.001, le=10, allow_inf_nan=False,
                               description="resolution of the curve (at least 1 ms: 120 s give 120,000 points)")


Params = TypeVar("Params", GenerateParams, LikelihoodParams)


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
            raise InvalidParameters(f"{key!r} is given more than once")
        params[key] = value
    return params


async def _require_closing_boundary(request: Request) -> None:
    """A multipart body cut short (no closing boundary at its end) would parse as a shorter file: refuse it."""
    match = re.search(r'boundary="?([^";,]+)', request.headers.get("content-type", ""), re.IGNORECASE)
    if match and not (await request.body()).rstrip(b"\r\n").endswith(b"--" + match.group(1).encode("latin-1") + b"--"):
        raise TruncatedUpload("the multipart body does not end with its closing boundary: the upload was cut "
                              "short")


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
                    raise InvalidParameters(f"{file_field!r} is given more than once")
                seen_file = True
                if not isinstance(value, UploadFile):
                    raise InvalidAudio(f"{file_field!r} must be an uploaded file")
                audio = await value.read()
            elif isinstance(value, UploadFile):
                raise UnknownField(f"unexpected file field {key!r}; send the audio as {file_field!r}")
            else:
                _one_value_each([(key, value)], params)
        await form.close()
        return audio, params
    if media.startswith(RAW_AUDIO_TYPES):
        return await request.body(), params
    if not media and not await request.body():
        return None, params
    raise UnsupportedMediaType(f"content type {media or '(none)'} is not accepted: send multipart/form-data with "
                               f"a {file_field!r} file, or the audio itself as the body with an audio/* content "
                               "type")


def parse_params(model: type[Params], params: dict[str, str], limits: dict[str, float] | None = None) -> Params:
    """Validated parameters; `limits` are the server's own bounds (the validators read them as context)."""
    for name, field in model.model_fields.items():
        numeric = field.annotation in (float, int, int | None)
        if numeric and name in params and (len(params[name]) > MAX_NUMBER_CHARS
                                           or not PLAIN_NUMBER.fullmatch(params[name].strip())):
            raise InvalidParameters(f"{name}: {params[name][:MAX_NUMBER_CHARS]!r} is not a plain decimal number "
                                    f"of at most {MAX_NUMBER_CHARS} characters")
    try:
        return model.model_validate(params, context=limits)
    except ValidationError as error:
        raise InvalidParameters(validation_message(error)) from error
