"""The generation engine: admission (service/admission.py) in front of workers (service/workers.py).

The HTTP layer submits requests and iterates their streams; the engine never sees HTTP. Admission decides
at once (a place, or 503); workers take admitted streams when they have free slots.
"""

from __future__ import annotations

import asyncio
import time

from model_core.model import WaveNet
from service.admission import StreamQueue
from service.errors import ShuttingDown
from service.metrics import Metrics
from service.streams import GenerationRequest, GenerationStream
from service.workers import EngineWorker


class Engine:
    """`submit` never blocks: it queues the request or refuses it."""

    def __init__(self, model: WaveNet, metrics: Metrics, workers: int = 1, streams_per_worker: int = 16,
                 queue_size: int = 16, chunk_samples: int = 1600, timeout_seconds: float = 300.0,
                 backend: str = "auto", step_threads: int | None = None, min_realtime_factor: float = 0.0) -> None:
        self.timeout_seconds = timeout_seconds
        self.min_realtime_factor = min_realtime_factor
        self.queue_size = queue_size
        self.metrics = metrics
        self.queue = StreamQueue(workers * streams_per_worker, queue_size, metrics)
        self.workers = [EngineWorker(self.queue, metrics, model, streams_per_worker, chunk_samples, backend, i,
                                     step_threads) for i in range(workers)]

    @property
    def backend(self) -> str:
        return self.workers[0].backend

    @property
    def in_flight(self) -> int:
        return self.queue.in_flight

    @property
    def realtime_streams(self) -> float:
        """Streams the engine generates at least in real time, as measured by `start` (0 before)."""
        return self.metrics.realtime_streams

    @property
    def alive(self) -> bool:
        """Every worker still runs (a worker that failed takes no more streams: the replica is not ready)."""
        return not any(worker.failed for worker in self.workers)

    @property
    def live_limit(self) -> int:
        """Streams generated at once (the rest wait in the queue): measured by `start`."""
        return sum(worker.live_limit for worker in self.workers)

    def start(self) -> None:
        """Warm every worker up, measuring how many streams it serves fast enough; admit that many live
        streams plus the queue; then start the workers. Workers are measured one at a time, each alone on
        the device: with several workers the sum overestimates what they serve together (one worker, the
        default, is measured as it runs)."""
        self.metrics.set_realtime_streams(sum(worker.warm_up(self.min_realtime_factor) for worker in self.workers))
        self.queue.places.limit = self.live_limit + self.queue_size
        for worker in self.workers:
            worker.thread.start()

    def stop(self) -> None:
        for stream in self.queue.stop():
            stream.end(ShuttingDown("the server shut down before the stream started"))
            self.queue.release()
        for worker in self.workers:
            if worker.thread.is_alive():
                worker.thread.join(timeout=10)

    def check_room(self) -> None:
        """Refuse (503) a request that would be refused now: checked before its seed is decoded."""
        self.queue.check_room()

    def submit(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> GenerationStream:
        stream = GenerationStream(request, loop, deadline=time.monotonic() + self.timeout_seconds)
        self.queue.submit(stream)
        return stream
