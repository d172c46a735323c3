"""Engine workers: each a thread that owns one IncrementalSampler and runs prime -> sample -> emit -> retire.

Continuous batching (as in vLLM's engine): a worker keeps its live streams in the first slots of its
sampler and advances them all together, in rounds of a few batched steps; streams taken from the queue are
primed into free slots between rounds, finished or cancelled ones leave and the last live stream moves
into the gap. The sampler owns each stream's sampling state (params, draw counter); the worker only adds
what emission needs (the stream's handle, its pending chunk).

A stream's n-th sample is drawn with counter_uniform(random_seed, n), and the native step kernel computes
each stream's row with the same instructions whatever its batch mates, so a request with a random_seed
gets the same samples whatever else the server is doing (the offline `wavenet generate` too).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from model_core.inference.generate import seed_or_silence
from model_core.inference.kernel_choice import prime_all_with_silence, round_rate
from model_core.inference.sampler import IncrementalSampler
from model_core.model import WaveNet
from service.admission import StreamQueue
from service.errors import ShuttingDown, StreamTimedOut
from service.metrics import Metrics
from service.streams import GenerationStream

log = logging.getLogger("wavenet.engine")
FIRST_CHUNK_SAMPLES = 80  # 10 ms at 8 kHz: the first audio leaves as soon as it exists
STEPS_PER_ROUND = 40
"""Samples per live stream between two looks at the queue: new streams join within 5 ms of audio, and the
Python work per round is spread over 40 steps (per step it cost more than the step at small batches)."""


@dataclass(eq=False)
class _Emission:
    """What a live slot needs besides its sampling state: where its codes go, and how many to gather."""

    stream: GenerationStream
    chunk_target: int
    buffer: list[np.ndarray] = field(default_factory=list)


def _counts(capacity: int) -> list[int]:
    """Live-slot counts the warm-up measures: powers of two up to the capacity, and the capacity."""
    return sorted({2**i for i in range(capacity.bit_length()) if 2**i <= capacity} | {capacity})


def _most_streams_at(per_stream: dict[int, float], factor: float) -> int:
    """The most live streams measured to run each at least `factor` x real time (0 if none)."""
    return max([0] + [n for n, measured in per_stream.items() if measured >= factor])


class EngineWorker:
    """One thread, one sampler with `capacity` slots; live streams occupy slots 0..n-1."""

    def __init__(self, queue: StreamQueue, metrics: Metrics, model: WaveNet, capacity: int, chunk_samples: int,
                 backend: str, index: int, threads: int | None) -> None:
        self.queue, self.metrics = queue, metrics
        self.sampler = IncrementalSampler(model, capacity, backend=backend, threads=threads)
        self.capacity, self.chunk_samples = capacity, chunk_samples
        self.live_limit = capacity
        """Streams this worker advances at once: set from measurement by `warm_up`."""
        self.failed = False
        self.live: list[_Emission] = []
        self.thread = threading.Thread(target=self._run, name=f"wavenet-engine-{index}", daemon=True)

    @property
    def backend(self) -> str:
        return self.sampler.kernel.name

    def warm_up(self, min_realtime_factor: float) -> float:
        """Run the real path (priming, rounds of steps) before the first request needs it, measuring the
        aggregate speed at 1, 2, 4, ... live slots, and set `live_limit` from it: the most streams that each
        still run `min_realtime_factor` x real time, at least one (a factor of 0: every slot).

        Returns the streams this worker generates in real time: the most that each run at least 1x, or,
        when not even one does, the fraction of one stream's real time that one stream gets (so the
        capacity gauge, live streams over this, reads above 1 on a replica too slow for any stream).
        """
        prime_all_with_silence(self.sampler)
        rate = self.sampler.config.sample_rate
        per_stream = {n: self._samples_per_second(n) / n / rate for n in _counts(self.capacity)}
        log.info("real-time factor of each stream, by live streams: %s",
                 ", ".join(f"{n}: {factor:.2f}" for n, factor in per_stream.items()))
        self.live_limit = max(1, _most_streams_at(per_stream, min_realtime_factor)) if min_realtime_factor > 0 \
            else self.capacity
        return float(_most_streams_at(per_stream, 1.0)) or per_stream[1]

    def _samples_per_second(self, live: int) -> float:
        return round_rate(self.sampler, live)

    def _run(self) -> None:
        try:
            while True:
                admitted = self.queue.take(self.live_limit - len(self.live), block=not self.live)
                if admitted is None:  # stopping: whoever is still live is told so, not left waiting
                    self._retire_all(ShuttingDown("the server shut down before the stream ended"))
                    return
                for stream in admitted:
                    self._admit(stream)
                if self.live:
                    self._advance()
        except Exception as error:  # a bug here must not leave readers waiting forever on a dead thread
            log.exception("engine worker failed; its streams end with the error and it takes no more")
            self.failed = True
            self._retire_all(error)

    def _retire_all(self, error: BaseException) -> None:
        for slot in reversed(range(len(self.live))):
            self._retire(slot, error)

    def _admit(self, stream: GenerationStream) -> None:
        slot = len(self.live)
        self.metrics.stream_started()
        try:
            self.sampler.prime_slots([slot], seed_or_silence(stream.request.seed_codes),
                                     params=[stream.request.params])
        except Exception as error:  # a bad seed must not take the worker down
            log.exception("priming failed")
            self._leave(stream, error, produced=0)
            return
        self.live.append(_Emission(stream, chunk_target=min(FIRST_CHUNK_SAMPLES, self.chunk_samples)))

    def _retire(self, slot: int, error: BaseException | None) -> None:
        """Free a slot: the last live stream moves into it, so live streams stay in slots 0..n-1."""
        emission, produced = self.live[slot], int(self.sampler.draws[slot])
        last = len(self.live) - 1
        if slot != last:
            self.sampler.move_slot(last, slot)
            self.live[slot] = self.live[last]
        self.live.pop()
        self._leave(emission.stream, error, produced)

    def _leave(self, stream: GenerationStream, error: BaseException | None, produced: int) -> None:
        """A stream leaves this worker: tell its reader, record its speed, free its place in the queue."""
        if not stream.cancelled.is_set():
            stream.end(error)
        if produced and stream.first_audio_at is not None:
            elapsed = max(time.monotonic() - stream.submitted_at, 1e-9)
            self.metrics.real_time_factor.observe(produced / self.sampler.config.sample_rate / elapsed)
        self.metrics.stream_ended()
        self.queue.release()

    def _advance(self) -> None:
        """Generate the next few samples of every live stream in one sampler call, emit chunks, and
        retire streams that finished, were cancelled or ran out of time."""
        now = time.monotonic()
        for slot in reversed(range(len(self.live))):  # descending: moving the last stream keeps indices valid
            stream = self.live[slot].stream
            if stream.cancelled.is_set():
                self._retire(slot, None)
            elif now > stream.deadline:
                self._retire(slot, StreamTimedOut("the request timeout was reached; the stream was stopped"))
        n = len(self.live)
        if not n:
            return
        remaining = [emission.stream.request.num_samples - int(drawn)
                     for emission, drawn in zip(self.live, self.sampler.draws[:n], strict=True)]
        # Never past a stream's end, so no sample is wasted and a finished stream leaves at once.
        steps = min(STEPS_PER_ROUND, *remaining)
        try:
            codes = self.sampler.sample_steps(steps, n)
        except Exception as error:
            log.exception("engine step failed")
            self._retire_all(error)
            return
        self.metrics.batch_size.observe(n)
        self.metrics.generated_samples.inc(n * steps)
        now = time.monotonic()
        for slot, emission in enumerate(self.live):
            emission.buffer.append(codes[slot])
            buffered = sum(len(b) for b in emission.buffer)
            done = remaining[slot] == steps
            if done or buffered >= emission.chunk_target:
                if emission.stream.first_audio_at is None:
                    emission.stream.first_audio_at = now
                    self.metrics.time_to_first_audio.observe(now - emission.stream.submitted_at)
                emission.stream.emit(np.concatenate(emission.buffer))
                emission.buffer = []
                emission.chunk_target = self.chunk_samples
        for slot in reversed(range(n)):
            if remaining[slot] == steps:
                self._retire(slot, None)
