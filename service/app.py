"""The FastAPI app, built by `create_app(settings)`: lifespan (model, engine, scorer, decoders), middleware,
error handlers, routes.

The HTTP layer validates and translates (service/routes.py); the engine owns the streams.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from model_core.checkpoint import load_checkpoint, resolve_checkpoint
from model_core.device import resolve_device, usable_cores
from model_core.inference.kernel_choice import fastest_kernel
from model_core.model import WaveNet
from service import web_page
from service.app_state import AppState, attach
from service.cors import JsonCORSMiddleware
from service.decoding import DecodePool
from service.engine import Engine
from service.errors import install_error_handlers
from service.metrics import Metrics
from service.request_middleware import RequestMiddleware
from service.routes import build_router
from service.scoring import Scorer
from service.settings import Settings
from service.upload_limit import UploadLimitMiddleware

log = logging.getLogger("wavenet.service")


def create_app(settings: Settings | None = None, checkpoint: tuple[WaveNet, dict[str, Any]] | None = None) -> FastAPI:
    """`checkpoint`: the (model, metadata) `load_checkpoint` returned, when the caller has read it already
    (`wavenet serve` does, to fail before uvicorn starts); otherwise the lifespan reads settings.checkpoint."""
    settings = settings or Settings()
    state = AppState(settings, Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.checkpoint_path = resolve_checkpoint(settings.checkpoint)
        # Fails start-up (before any request is served) on a missing or corrupt checkpoint.
        model, state.metadata = checkpoint or load_checkpoint(state.checkpoint_path)
        # The rest measures kernels and capacity for seconds: in a thread, so that the port opens and
        # /healthz answers meanwhile (/readyz says 503 until it is done).
        threading.Thread(target=start_serving, args=(state, model), name="wavenet-start-up", daemon=True).start()
        try:
            yield
        finally:
            state.lifecycle.ready = False
            if state.engine is not None:
                state.engine.stop()
            if state.decoder is not None:
                state.decoder.shutdown()

    # FastAPIOffline: /docs and /redoc with Swagger UI and ReDoc served from the package, not a CDN.
    app = FastAPIOffline(
        title="wavenet-service",
        version="0.1.0",
        description="WaveNet raw-audio generation: POST a seed WAV, get its continuation streamed back as WAV.",
        lifespan=lifespan,
    )
    attach(app, state)
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes,
                       idle_seconds=settings.body_idle_timeout_seconds, total_seconds=settings.body_timeout_seconds,
                       max_concurrent=settings.max_concurrent_uploads)
    app.add_middleware(RequestMiddleware, metrics=state.metrics, api_keys=settings.api_keys,
                       public_metrics=settings.public_metrics, public_docs=settings.public_docs)
    app.add_middleware(JsonCORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                       allow_headers=["*"], expose_headers=["X-Request-Id", "X-Sample-Rate", "X-Random-Seed"])
    install_error_handlers(app)
    app.include_router(build_router(settings))
    app.include_router(web_page.router)  # the page at / and its files under /ui/
    return app


def start_serving(state: AppState, model: WaveNet) -> None:
    """Pick the device and kernel, build the engine, scorer and decoders, warm up, then say ready."""
    settings = state.settings
    try:
        if settings.device == "auto":
            device, backend, state.kernel_rates = fastest_kernel(model, settings.max_streams_per_worker,
                                                                 settings.step_threads)
            log.info("kernels measured with %d streams (samples/s): %s; using %s/%s", settings.max_streams_per_worker,
                     ", ".join(f"{name} {rate:,.0f}" for name, rate in state.kernel_rates.items()), device, backend)
        else:
            device, backend = resolve_device(settings.device), "auto"
        state.model = model.to(device)
        engine = Engine(state.model, state.metrics, workers=settings.workers, backend=backend,
                        streams_per_worker=settings.max_streams_per_worker, queue_size=settings.queue_size,
                        chunk_samples=settings.chunk_samples, timeout_seconds=settings.request_timeout_seconds,
                        step_threads=settings.step_threads, min_realtime_factor=settings.min_realtime_factor)
        if engine.backend == "native":
            # The native kernel runs its own threads; torch's pool would compete with them for cores.
            torch.set_num_threads(1)
        state.scorer = Scorer(state.model, settings.queue_size)
        # Half the cores by default: decoding must not take every core from the engine.
        state.decoder = DecodePool(model.config, settings.decode_workers or max(1, usable_cores() // 2),
                                   waiting=settings.queue_size)
        state.metrics.model.info({"checkpoint": state.checkpoint_path.name, "sha256": state.metadata["sha256"],
                                  "backend": engine.backend, "receptive_field": str(model.receptive_field)})
        engine.start()
        state.engine = engine
    except Exception:
        log.exception("start-up failed: the server stays not ready")
        return
    state.lifecycle.ready = True
    log.info("ready: %s on %s (%s kernel; %g streams in real time, %d generated at once)",
             state.checkpoint_path.name, device, engine.backend, engine.realtime_streams, engine.live_limit)
