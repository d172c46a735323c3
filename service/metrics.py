"""Prometheus metrics, in a registry of the app's own so that several apps (tests) can coexist."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("wavenet_requests", "HTTP requests", ["endpoint", "status"], registry=r)
        self.latency = Histogram("wavenet_request_seconds", "Time to the full response", ["endpoint"],
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                                 registry=r)
        self.time_to_first_audio = Histogram(
            "wavenet_time_to_first_audio_seconds", "From request to the first generated samples",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.generated_samples = Counter("wavenet_generated_samples", "Samples generated", registry=r)
        self.real_time_factor = Histogram(
            "wavenet_real_time_factor", "Audio seconds generated per wall second, per finished stream",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32), registry=r)
        self.active_streams = Gauge("wavenet_active_streams", "Streams being generated", registry=r)
        self.realtime_capacity_used = Gauge(
            "wavenet_realtime_capacity_used", "Live streams over the streams this replica generates in real time "
            "(measured at start-up): how full it is; above 1 its listeners hear stalls", registry=r)
        self.realtime_streams = 0.0
        """Streams the engine generates at least in real time, measured when it starts (0: not yet)."""
        self._live = 0
        self._lock = threading.Lock()
        self.queue_depth = Gauge("wavenet_queue_depth", "Requests waiting for a stream slot", registry=r)
        self.batch_size = Histogram("wavenet_engine_batch_size", "Streams advanced per engine step",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.model = Info("wavenet_model", "The loaded checkpoint", registry=r)

    def stream_started(self) -> None:
        self._count_live(+1)

    def stream_ended(self) -> None:
        self._count_live(-1)

    def set_realtime_streams(self, streams: float) -> None:
        self.realtime_streams = streams
        self._count_live(0)

    def _count_live(self, change: int) -> None:
        with self._lock:
            self._live += change
            self.active_streams.set(self._live)
            if self.realtime_streams:
                self.realtime_capacity_used.set(self._live / self.realtime_streams)
