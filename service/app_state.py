"""What the routes reach: one object per app, filled by the lifespan, read through `app_state(request)`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from model_core.model import WaveNet
from service.decoding import DecodePool
from service.engine import Engine
from service.errors import Draining, NotReady
from service.metrics import Metrics
from service.scoring import Scorer
from service.settings import Settings


@dataclass
class Lifecycle:
    """loading -> ready -> draining. `wavenet serve` starts the drain on SIGTERM: /readyz says 503, new work
    is refused, live streams go on until the grace deadline; those still running then are cut and counted."""

    ready: bool = False
    draining: bool = False
    drain_deadline: float | None = None
    cut_streams: int = 0

    def start_draining(self, deadline: float) -> None:
        if not self.draining:
            self.draining, self.drain_deadline = True, deadline

    def require_ready(self) -> None:
        if self.draining:
            raise Draining("the server is shutting down")
        if not self.ready:
            raise NotReady("the model is still loading")

    def past_drain_deadline(self) -> bool:
        return self.drain_deadline is not None and time.monotonic() >= self.drain_deadline


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    # Set by the lifespan once the model is loaded:
    checkpoint_path: Path | None = None
    model: WaveNet | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    kernel_rates: dict[str, float] = field(default_factory=dict)
    """Samples/s of each (device/kernel) measured when WAVENET_DEVICE=auto chose between them."""
    engine: Engine | None = None
    scorer: Scorer | None = None
    decoder: DecodePool | None = None


def app_state(request: Request) -> AppState:
    return request.app.state.service


def attach(app: FastAPI, state: AppState) -> None:
    app.state.service = state
    app.state.lifecycle = state.lifecycle  # what `wavenet serve` drives on SIGTERM
