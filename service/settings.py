"""All service configuration, read once from WAVENET_* environment variables (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WAVENET_", env_file=".env", extra="ignore")

    checkpoint: Path | None = Field(None, description="default: the shipped model of a source checkout "
                                    "(model_core.checkpoint.resolve_checkpoint)")
    device: str = Field("auto", description="auto: the fastest kernel and device measured at start-up (a GPU host "
                        "never runs slower than its own CPU would) | cpu | cuda | cuda:N")
    workers: int = Field(1, ge=1, description="engine threads sharing the one model on the one device, each "
                         "advancing its own batch of streams; one is right on a CPU (its kernel has threads of "
                         "its own) and usually on one GPU")
    max_streams_per_worker: int = Field(16, ge=1, description="streams one worker advances together")
    queue_size: int = Field(16, ge=0, description="requests that may wait for a free stream slot")
    min_realtime_factor: float = Field(
        1.0, ge=0, description="live streams are capped, by a start-up measurement, at as many as each still run "
        "this many times real time (more wait in the queue, then 503); 0: no cap beyond the slots")
    max_duration_seconds: float = Field(30.0, gt=0)
    max_seed_seconds: float = Field(30.0, gt=0)
    max_likelihood_seconds: float = Field(120.0, gt=0)
    max_upload_bytes: int = Field(20_000_000, ge=1024)
    max_header_bytes: int = Field(32_768, ge=1024, description="request line + headers; more: 431")
    header_timeout_seconds: float = Field(10.0, gt=0, description="time to send the request line and headers")
    body_idle_timeout_seconds: float = Field(30.0, gt=0, description="silence allowed inside a request body")
    body_timeout_seconds: float = Field(120.0, gt=0, description="time allowed for a whole request body")
    max_concurrent_uploads: int = Field(16, ge=1, description="request bodies arriving at once; more: 503")
    decode_workers: int | None = Field(None, ge=1, description="uploads decoded at once (queue_size more may "
                                       "wait, then 503); default: half the cores, at least one")
    request_timeout_seconds: float = Field(300.0, gt=0, description="a stream still running then is stopped")
    step_threads: int | None = Field(
        None, ge=1, description="CPU threads of the native step kernel; default: "
        "model_core.inference.kernels.native.default_step_threads (every core under `wavenet serve`, whose "
        "kernel threads sleep between rounds)")
    chunk_samples: int = Field(1600, ge=16, description="samples per streamed chunk (after a short first one)")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, description="empty: no auth")
    public_metrics: bool = Field(False, description="with api_keys set, serve /metrics without a key")
    public_docs: bool = Field(False, description="with api_keys set, serve /docs, /redoc, /openapi.json "
                              "without a key")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("cors_origins", "api_keys", mode="before")
    @classmethod
    def comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value
