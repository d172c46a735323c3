"""The HTTP routes: each translates a request into engine or scorer work and the result into a response.

Handlers are plain functions that reach the app's state through `app_state(request)`; `build_router`
registers them with the OpenAPI documentation of this server's limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from model_core.wav_format import wav_header, wav_payload_size, wav_stream
from service import openapi_docs as docs
from service.app_state import AppState, app_state
from service.errors import InvalidAudio, NotReady, ShuttingDown, StreamTimedOut
from service.request_inputs import MAX_TEMPERATURE, GenerateParams, LikelihoodParams, parse_params, read_inputs
from service.settings import Settings
from service.streams import GenerationRequest, GenerationStream

log = logging.getLogger("wavenet.service")


async def healthz() -> dict:
    return {"status": "ok"}


def require_serving(state: AppState) -> None:
    """503 unless the model is loaded, the server is not draining and every engine worker runs."""
    state.lifecycle.require_ready()
    if state.engine is not None and not state.engine.alive:
        raise NotReady("an engine worker failed; see the server log")


async def readyz(request: Request) -> Response:
    require_serving(app_state(request))
    return Response('{"status":"ready"}', media_type="application/json")


async def prometheus_metrics(request: Request) -> Response:
    return Response(generate_latest(app_state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def info(request: Request) -> dict:
    state = app_state(request)
    state.lifecycle.require_ready()
    settings, config = state.settings, state.model.config
    metadata = {k: v for k, v in state.metadata.items() if k != "sha256"}
    return {
        "sample_rate": config.sample_rate,
        "receptive_field": config.receptive_field,
        "config": config.to_dict(),
        "checkpoint": {"path": str(state.checkpoint_path), "sha256": state.metadata["sha256"],
                       "metadata": metadata},
        "engine": {"backend": state.engine.backend, "device": str(state.model.embed.weight.device),
                   "measured_samples_per_second": {name: round(rate) for name, rate in state.kernel_rates.items()},
                   "workers": settings.workers,
                   "streams_per_worker": settings.max_streams_per_worker,
                   "realtime_streams": int(state.engine.realtime_streams),
                   "live_streams_limit": state.engine.live_limit, "min_realtime_factor": settings.min_realtime_factor},
        "limits": {"max_duration_seconds": settings.max_duration_seconds, "max_temperature": MAX_TEMPERATURE,
                   "max_seed_seconds": settings.max_seed_seconds,
                   "max_likelihood_seconds": settings.max_likelihood_seconds,
                   "max_upload_bytes": settings.max_upload_bytes},
    }


async def generate(request: Request) -> Response:
    state = app_state(request)
    require_serving(state)
    settings = state.settings
    audio, raw_params = await read_inputs(request, "seed")
    params = parse_params(GenerateParams, raw_params, {"max_duration_seconds": settings.max_duration_seconds})
    state.engine.check_room()  # a full server refuses before decoding anything
    seed = None if audio is None else await state.decoder.decode(audio, settings.max_seed_seconds)
    rate, stream_params = state.model.config.sample_rate, params.stream_params()
    num_samples = params.num_samples(rate)
    stream = state.engine.submit(GenerationRequest(seed, num_samples, stream_params), asyncio.get_running_loop())
    echoed = seed if params.include_seed and seed is not None else np.zeros(0, np.int64)
    total = len(echoed) + num_samples
    body = _streamed_body(request, stream, wav_stream(stream, num_samples, rate, params.format, echoed))
    content_length = len(wav_header(total, rate, params.format)) + wav_payload_size(total, params.format)
    return _StreamResponse(stream, body, media_type="audio/wav", headers={
        "Content-Length": str(content_length), "X-Sample-Rate": str(rate),
        "X-Random-Seed": str(stream_params.random_seed), "Cache-Control": "no-store"})


class _StreamResponse(StreamingResponse):
    """Cancels its stream however the response ends: the body's own `finally` never runs when the client
    leaves before the body is first iterated (Starlette then cancels the response before it starts)."""

    def __init__(self, stream: GenerationStream, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.cancel()  # no-op when finished; frees the slot when the client went away


async def _streamed_body(request: Request, stream: GenerationStream,
                         wav: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The WAV as it is generated. Once its headers are sent an error can no longer change the status: a
    stream that ends early (timeout, shutdown) ends the body short of its Content-Length, which tells the
    client, and is logged here."""
    lifecycle, request_id = app_state(request).lifecycle, request.state.request_id
    try:
        async for piece in wav:
            yield piece
    except (StreamTimedOut, ShuttingDown) as error:
        log.warning("stream %s ended early after %d of %d samples: %s", request_id, stream.delivered,
                    stream.request.num_samples, error)
    except Exception:
        log.exception("stream %s failed after %d of %d samples", request_id, stream.delivered,
                      stream.request.num_samples)
    except asyncio.CancelledError:
        # Cancelled when the client leaves, or by the server when its shutdown grace period ran out.
        if lifecycle.past_drain_deadline():
            lifecycle.cut_streams += 1
            log.warning("stream %s cut by shutdown after %d of %d samples", request_id, stream.delivered,
                        stream.request.num_samples)
        raise


async def likelihood(request: Request) -> dict:
    state = app_state(request)
    state.lifecycle.require_ready()
    audio, raw_params = await read_inputs(request, "audio")
    params = parse_params(LikelihoodParams, raw_params)
    if audio is None:
        raise InvalidAudio("no audio: send an 'audio' file or an audio/* body")
    state.scorer.places.check()  # a full server refuses before decoding anything
    codes = await state.decoder.decode(audio, state.settings.max_likelihood_seconds)
    if len(codes) < 2:
        raise InvalidAudio("at least 2 samples are needed to score anything")
    return await state.scorer.score(codes, params.hop_seconds)


def build_router(settings: Settings) -> APIRouter:
    """The routes, documented with this server's limits and whether it asks for keys."""
    router = APIRouter()
    router.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness: the process is up",
                         responses=docs.healthz_responses(settings))
    router.add_api_route("/readyz", readyz, methods=["GET"], summary="Readiness: the model is loaded and warmed up",
                         responses=docs.readyz_responses(settings))
    router.add_api_route("/metrics", prometheus_metrics, methods=["GET"], summary="Prometheus metrics",
                         response_class=Response, responses=docs.metrics_responses(settings))
    router.add_api_route("/info", info, methods=["GET"],
                         summary="The loaded model: config, receptive field, checkpoint hash and metadata",
                         responses=docs.info_responses(settings))
    router.add_api_route("/generate", generate, methods=["POST"], summary="Continue a seed: streamed WAV out",
                         openapi_extra=docs.generate_doc(settings), response_class=StreamingResponse,
                         responses=docs.generate_responses(settings))
    router.add_api_route("/likelihood", likelihood, methods=["POST"],
                         summary="Score audio: bits per sample under the model, and a curve over time",
                         openapi_extra=docs.likelihood_doc(settings), responses=docs.likelihood_responses(settings))
    return router
