"""The FastAPI app: HTTP in, engine requests out, WAV streamed back. Built by `create_app(settings)`.

The HTTP layer validates and translates; the engine (service/engine.py) owns the model and the streams.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import torch
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from model_core.audio_io import AudioError, AudioTooLong
from model_core.checkpoint import file_sha256, load_checkpoint
from model_core.device import resolve_device
from model_core.step_native import native_available
from model_core.wav_format import wav_header, wav_payload_size, wav_samples, wav_trailer
from service import openapi_docs as docs
from service.cors import JsonCORSMiddleware
from service.decoding import DecodePool
from service.engine import Engine, EngineBusy, GenerationRequest, StreamTimeout
from service.errors import ApiError, error_response
from service.metrics import Metrics
from service.request_inputs import GenerateParams, LikelihoodParams, parse_params, read_inputs
from service.request_middleware import RequestMiddleware
from service.scoring import Scorer
from service.settings import Settings
from service.upload_limit import UploadLimitMiddleware, UploadStalled, UploadTooLarge

log = logging.getLogger("wavenet.service")
RETRY_AFTER_SECONDS = "2"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        device = resolve_device(settings.device)
        # Fails start-up (before any request is served) on a missing or corrupt checkpoint.
        model, metadata = load_checkpoint(settings.checkpoint, device)
        if device.type == "cpu" and native_available():
            # The native kernel runs its own threads; torch's pool would compete with them for cores.
            torch.set_num_threads(1)
        # The engine thread needs the GIL back after every kernel call; with the default 5 ms switch
        # interval a busy event loop can keep it waiting longer than a whole round of steps takes.
        sys.setswitchinterval(0.0005)
        cores = len(os.sched_getaffinity(0))
        engine = Engine(model, metrics, workers=settings.workers, streams_per_worker=settings.max_streams_per_worker,
                        queue_size=settings.queue_size, chunk_samples=settings.chunk_samples,
                        timeout_seconds=settings.request_timeout_seconds,
                        step_threads=settings.step_threads or max(1, cores - 1))
        app.state.model, app.state.metadata, app.state.engine = model, metadata, engine
        app.state.scorer = Scorer(model, settings.queue_size)
        # Half the cores by default: decoding must not take every core from the engine.
        app.state.decoder = DecodePool(model.config, settings.decode_workers or max(1, cores // 2),
                                       waiting=settings.queue_size)
        app.state.checkpoint_sha256 = file_sha256(settings.checkpoint)
        metrics.model.info({"checkpoint": settings.checkpoint.name, "sha256": app.state.checkpoint_sha256,
                            "backend": engine.backend, "receptive_field": str(model.receptive_field)})

        def warm_up_then_ready() -> None:
            engine.start()
            app.state.ready = True
            log.info("ready: %s on %s (%s kernel)", settings.checkpoint.name, device, engine.backend)

        threading.Thread(target=warm_up_then_ready, name="wavenet-warm-up", daemon=True).start()
        try:
            yield
        finally:
            app.state.ready = False
            engine.stop()
            app.state.decoder.shutdown()

    # FastAPIOffline: /docs and /redoc with Swagger UI and ReDoc served from the package, not a CDN.
    app = FastAPIOffline(
        title="wavenet-service",
        version="0.1.0",
        description="WaveNet raw-audio generation: POST a seed WAV, get its continuation streamed back as WAV.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.metrics, app.state.ready = settings, metrics, False
    # Set by `wavenet serve` on SIGTERM: refuse new work; streams still running at drain_deadline are cut.
    app.state.draining, app.state.drain_deadline, app.state.cut_streams = False, None, 0
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes,
                       idle_seconds=settings.body_idle_timeout_seconds, total_seconds=settings.body_timeout_seconds,
                       max_concurrent=settings.max_concurrent_uploads)
    app.add_middleware(RequestMiddleware, metrics=metrics, api_keys=settings.api_keys,
                       public_metrics=settings.public_metrics, public_docs=settings.public_docs)
    app.add_middleware(JsonCORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                       allow_headers=["*"], expose_headers=["X-Request-Id", "X-Sample-Rate", "X-Random-Seed"])

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> Response:
        return error_response(error.status, error.code, error.detail, error.headers)

    @app.exception_handler(UploadTooLarge)
    async def upload_too_large(_: Request, error: UploadTooLarge) -> Response:
        return error_response(413, "upload_too_large", str(error), {"Connection": "close"})

    @app.exception_handler(UploadStalled)
    async def upload_stalled(_: Request, error: UploadStalled) -> Response:
        return error_response(408, "upload_stalled", str(error), {"Connection": "close"})

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, _: ClientDisconnect) -> Response:
        # Nobody is left to read an answer; 499 (nginx's "client closed request") keeps it out of 5xx alerts.
        log.info("client closed request %s before its body was complete", request.state.request_id)
        return Response(status_code=499)

    @app.exception_handler(AudioTooLong)
    async def audio_too_long(_: Request, error: AudioTooLong) -> Response:
        return error_response(413, "audio_too_long", str(error))

    @app.exception_handler(EngineBusy)
    async def busy(_: Request, error: EngineBusy) -> Response:
        return error_response(503, "busy", f"{error}; retry later", {"Retry-After": RETRY_AFTER_SECONDS})

    @app.exception_handler(AudioError)
    async def bad_audio(_: Request, error: AudioError) -> Response:
        return error_response(422, "invalid_audio", str(error))

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

    def require_ready(request: Request) -> None:
        if request.app.state.draining:
            raise ApiError(503, "draining", "the server is shutting down", {"Retry-After": RETRY_AFTER_SECONDS})
        if not request.app.state.ready:
            raise ApiError(503, "not_ready", "the model is still loading", {"Retry-After": RETRY_AFTER_SECONDS})

    @app.get("/healthz", summary="Liveness: the process is up", responses=docs.healthz_responses(settings))
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the model is loaded and warmed up",
             responses=docs.readyz_responses(settings))
    async def readyz(request: Request) -> Response:
        require_ready(request)
        return Response('{"status":"ready"}', media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response,
             responses=docs.metrics_responses(settings))
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/info", summary="The loaded model: config, receptive field, checkpoint hash and metadata",
             responses=docs.info_responses(settings))
    async def info(request: Request) -> dict:
        require_ready(request)
        state = request.app.state
        config = state.model.config
        return {
            "sample_rate": config.sample_rate,
            "receptive_field": config.receptive_field,
            "config": config.to_dict(),
            "checkpoint": {"path": str(settings.checkpoint), "sha256": state.checkpoint_sha256,
                           "metadata": state.metadata},
            "engine": {"backend": state.engine.backend, "workers": settings.workers,
                       "streams_per_worker": settings.max_streams_per_worker},
            "limits": {"max_duration_seconds": settings.max_duration_seconds,
                       "max_seed_seconds": settings.max_seed_seconds,
                       "max_likelihood_seconds": settings.max_likelihood_seconds,
                       "max_upload_bytes": settings.max_upload_bytes},
        }

    @app.post("/generate", summary="Continue a seed: streamed WAV out", openapi_extra=docs.generate_doc(settings),
              response_class=StreamingResponse, responses=docs.generate_responses(settings))
    async def generate(request: Request) -> Response:
        require_ready(request)
        audio, raw_params = await read_inputs(request, "seed")
        params = parse_params(GenerateParams, raw_params)
        if params.duration > settings.max_duration_seconds:
            raise ApiError(422, "invalid_parameters", f"duration: at most {settings.max_duration_seconds:g} s")
        rate = request.app.state.model.config.sample_rate
        engine: Engine = request.app.state.engine
        engine.check_room()  # a full server refuses before decoding anything
        seed = None if audio is None else await request.app.state.decoder.decode(audio, settings.max_seed_seconds)
        random_seed = params.random_seed if params.random_seed is not None else secrets.randbits(63)
        num_samples = max(1, round(params.duration * rate))
        stream = engine.submit(GenerationRequest(seed, num_samples, params.temperature, random_seed),
                               asyncio.get_running_loop())
        echoed = seed if params.include_seed and seed is not None else np.zeros(0, np.int64)
        total = len(echoed) + num_samples
        header = wav_header(total, rate, params.format)

        request_id, state = request.state.request_id, request.app.state

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            try:
                yield header + wav_samples(echoed, params.format)
                while True:
                    item = await stream.chunks.get()
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        # Headers are gone already; the short body tells the client (Content-Length).
                        log.warning("stream %s ended early: %s", request_id, item)
                        if isinstance(item, StreamTimeout | EngineBusy):
                            return
                        raise item
                    sent += len(item)
                    yield wav_samples(item, params.format)
                yield wav_trailer(total, params.format)
            except asyncio.CancelledError:
                # Cancelled when the client leaves, or by the server when its shutdown grace period ran out.
                if state.drain_deadline is not None and time.monotonic() >= state.drain_deadline:
                    state.cut_streams += 1
                    log.warning("stream %s cut by shutdown after %d of %d samples", request_id, sent, num_samples)
                raise
            finally:
                stream.cancel()  # no-op when finished; frees the slot when the client went away

        content_length = len(header) + wav_payload_size(total, params.format)
        return StreamingResponse(body(), media_type="audio/wav", headers={
            "Content-Length": str(content_length), "X-Sample-Rate": str(rate),
            "X-Random-Seed": str(random_seed), "Cache-Control": "no-store"})

    @app.post("/likelihood", summary="Score audio: bits per sample under the model, and a curve over time",
              openapi_extra=docs.likelihood_doc(settings), responses=docs.likelihood_responses(settings))
    async def likelihood(request: Request) -> dict:
        require_ready(request)
        audio, raw_params = await read_inputs(request, "audio")
        params = parse_params(LikelihoodParams, raw_params)
        if audio is None:
            raise ApiError(422, "invalid_audio", "no audio: send an 'audio' file or an audio/* body")
        request.app.state.scorer.check_room()  # a full server refuses before decoding anything
        codes = await request.app.state.decoder.decode(audio, settings.max_likelihood_seconds)
        if len(codes) < 2:
            raise ApiError(422, "invalid_audio", "at least 2 samples are needed to score anything")
        return await request.app.state.scorer.score(codes, params.hop_seconds)

    return app
