"""The generation engine: workers that own the model and advance all live streams together.

Continuous batching (as in vLLM's engine): each worker thread keeps its live streams in the first slots
of one IncrementalSampler and advances them all together, in rounds of a few batched steps; new requests
are primed into free slots between rounds, finished or cancelled ones leave and the last live stream
moves into the gap.
The HTTP layer only submits requests and reads chunks of codes; the engine never sees HTTP.

A stream's n-th sample is drawn with counter_uniform(random_seed, n), and the native step kernel computes
each stream's row with the same instructions whatever its batch mates, so a request with a random_seed
gets the same samples whatever else the server is doing (the offline `wavenet generate` too).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from model_core.generate import seed_or_silence
from model_core.model import WaveNet
from model_core.mu_law import SILENCE_CODE
from model_core.sampler import IncrementalSampler
from service.metrics import Metrics

log = logging.getLogger("wavenet.engine")
FIRST_CHUNK_SAMPLES = 80  # 10 ms at 8 kHz: the first audio leaves as soon as it exists
STEPS_PER_ROUND = 40
"""Samples per live stream between two looks at the queue: new streams join within 5 ms of audio, and the
Python work per round is spread over 40 steps (per step it cost more than the step at small batches)."""


class EngineBusy(RuntimeError):
    """Every stream slot and every place in the waiting queue is taken."""


class StreamTimeout(RuntimeError):
    """A stream ran past the request timeout and was stopped."""


@dataclass(frozen=True)
class GenerationRequest:
    seed_codes: np.ndarray | None
    num_samples: int
    temperature: float
    random_seed: int


@dataclass(eq=False)
class GenerationStream:
    """One request's handle: chunks of new codes arrive on `chunks`, then None (or an exception)."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    deadline: float
    chunks: asyncio.Queue = field(default_factory=asyncio.Queue)
    submitted_at: float = field(default_factory=time.monotonic)
    first_audio_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Ask the engine to drop this stream; its slot is freed at the end of the current round."""
        self.cancelled.set()

    def emit(self, item: np.ndarray | Exception | None) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.chunks.put_nowait, item)


@dataclass(eq=False)
class _Live:
    stream: GenerationStream
    produced: int = 0
    buffer: list[np.ndarray] = field(default_factory=list)
    chunk_target: int = FIRST_CHUNK_SAMPLES


class EngineWorker:
    """One thread, one sampler with `capacity` slots; live streams occupy slots 0..n-1."""

    def __init__(self, engine: Engine, model: WaveNet, capacity: int, backend: str, index: int,
                 threads: int | None) -> None:
        self.engine = engine
        self.sampler = IncrementalSampler(model, capacity, backend=backend, threads=threads)
        self.capacity = capacity
        self.live: list[_Live] = []
        self.thread = threading.Thread(target=self._run, name=f"wavenet-engine-{index}", daemon=True)

    @property
    def backend(self) -> str:
        return self.sampler.kernel.name

    def warm_up(self) -> None:
        """Run the real path once (priming and a round of steps) before the first request needs it."""
        self.sampler.prime_slots([0], torch.full((1, 64), SILENCE_CODE, dtype=torch.long))
        self.sampler.sample_steps(STEPS_PER_ROUND, np.ones(1), np.zeros(1, np.int64), np.zeros(1, np.int64))

    def _run(self) -> None:
        engine = self.engine
        while True:
            admitted = engine.take_pending(self.capacity - len(self.live), block=not self.live)
            if admitted is None:  # stopping: whoever is still live is told so, not left waiting
                for live in self.live:
                    engine.finish(live.stream, EngineBusy("the server shut down before the stream ended"))
                self.live.clear()
                return
            for stream in admitted:
                self._admit(stream)
            if self.live:
                self._advance()

    def _admit(self, stream: GenerationStream) -> None:
        slot = len(self.live)
        try:
            seed = torch.from_numpy(seed_or_silence(stream.request.seed_codes))[None, :]
            self.sampler.prime_slots([slot], seed)
        except Exception as error:  # a bad seed must not take the worker down
            log.exception("priming failed")
            self.engine.finish(stream, error)
            return
        self.live.append(_Live(stream, chunk_target=min(FIRST_CHUNK_SAMPLES, self.engine.chunk_samples)))

    def _retire(self, slot: int, error: BaseException | None) -> None:
        """Free a slot: the last live stream moves into it, so live streams stay in slots 0..n-1."""
        live = self.live[slot]
        last = len(self.live) - 1
        if slot != last:
            self.sampler.move_slot(last, slot)
            self.live[slot] = self.live[last]
        self.live.pop()
        self.engine.finish(live.stream, error, produced=live.produced)

    def _advance(self) -> None:
        """Generate the next few samples of every live stream in one sampler call, emit chunks, and
        retire streams that finished, were cancelled or ran out of time."""
        now = time.monotonic()
        for slot in reversed(range(len(self.live))):  # descending: moving the last stream keeps indices valid
            stream = self.live[slot].stream
            if stream.cancelled.is_set():
                self._retire(slot, None)
            elif now > stream.deadline:
                self._retire(slot, StreamTimeout("the request timeout was reached; the stream was stopped"))
        if not self.live:
            return
        requests = [live.stream.request for live in self.live]
        # Never past a stream's end, so no sample is wasted and a finished stream leaves at once.
        steps = min(STEPS_PER_ROUND, *(r.num_samples - live.produced for r, live in zip(requests, self.live,
                                                                                        strict=True)))
        try:
            codes = self.sampler.sample_steps(steps, np.array([r.temperature for r in requests]),
                                              np.array([r.random_seed for r in requests]),
                                              np.array([live.produced for live in self.live]))
        except Exception as error:
            log.exception("engine step failed")
            for slot in reversed(range(len(self.live))):
                self._retire(slot, error)
            return
        n = len(self.live)
        metrics = self.engine.metrics
        metrics.batch_size.observe(n)
        metrics.generated_samples.inc(n * steps)
        now = time.monotonic()
        for slot, live in enumerate(self.live):
            live.buffer.append(codes[slot])
            live.produced += steps
            buffered = sum(len(b) for b in live.buffer)
            done = live.produced >= live.stream.request.num_samples
            if done or buffered >= live.chunk_target:
                if live.stream.first_audio_at is None:
                    live.stream.first_audio_at = now
                    metrics.time_to_first_audio.observe(now - live.stream.submitted_at)
                live.stream.emit(np.concatenate(live.buffer))
                live.buffer = []
                live.chunk_target = self.engine.chunk_samples
        for slot in reversed(range(n)):
            if self.live[slot].produced >= self.live[slot].stream.request.num_samples:
                self._retire(slot, None)


class Engine:
    """Admission control and the workers. `submit` never blocks: it queues the request or refuses it."""

    def __init__(self, model: WaveNet, metrics: Metrics, workers: int = 1, streams_per_worker: int = 16,
                 queue_size: int = 16, chunk_samples: int = 1600, timeout_seconds: float = 300.0,
                 backend: str = "auto", step_threads: int | None = None) -> None:
        self.model = model
        self.metrics = metrics
        self.chunk_samples = chunk_samples
        self.timeout_seconds = timeout_seconds
        self.capacity = workers * streams_per_worker
        self.limit = self.capacity + queue_size
        self._pending: deque[GenerationStream] = deque()
        self._in_flight = 0
        self._stopping = False
        self._cond = threading.Condition()
        self.workers = [EngineWorker(self, model, streams_per_worker, backend, i, step_threads)
                        for i in range(workers)]

    @property
    def backend(self) -> str:
        return self.workers[0].backend

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def start(self) -> None:
        for worker in self.workers:
            worker.warm_up()
            worker.thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            waiting, self._pending = list(self._pending), deque()
            self._cond.notify_all()
        for stream in waiting:
            stream.emit(EngineBusy("the server shut down before the stream started"))
            with self._cond:
                self._release(stream)
        for worker in self.workers:
            if worker.thread.is_alive():
                worker.thread.join(timeout=10)

    def check_room(self) -> None:
        """EngineBusy when a request submitted now would be refused: checked before its seed is decoded."""
        if self._stopping:
            raise EngineBusy("the server is shutting down")
        if self._in_flight >= self.limit:
            raise EngineBusy("all stream slots and the waiting queue are full")

    def submit(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> GenerationStream:
        stream = GenerationStream(request, loop, deadline=time.monotonic() + self.timeout_seconds)
        with self._cond:
            self.check_room()
            self._in_flight += 1
            self._pending.append(stream)
            self.metrics.queue_depth.set(len(self._pending))
            self._cond.notify()
        return stream

    def take_pending(self, free_slots: int, block: bool) -> list[GenerationStream] | None:
        """Up to free_slots waiting streams for a worker; None when the engine stops. A worker with no
        live stream blocks here; one with live streams only looks."""
        with self._cond:
            while block and not self._pending and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            taken = []
            while self._pending and len(taken) < free_slots:
                stream = self._pending.popleft()
                if stream.cancelled.is_set():
                    self._release(stream)
                    continue
                taken.append(stream)
                self.metrics.active_streams.inc()
            self.metrics.queue_depth.set(len(self._pending))
            return taken

    def finish(self, stream: GenerationStream, error: BaseException | None, produced: int = 0) -> None:
        """A stream leaves its worker: tell its reader, free its place, record its speed."""
        if not stream.cancelled.is_set():
            stream.emit(error if error is not None else None)
        if produced and stream.first_audio_at is not None:
            elapsed = max(time.monotonic() - stream.submitted_at, 1e-9)
            self.metrics.real_time_factor.observe(produced / self.model.config.sample_rate / elapsed)
        self.metrics.active_streams.dec()
        with self._cond:
            self._release(stream)

    def _release(self, stream: GenerationStream) -> None:
        self._in_flight -= 1
