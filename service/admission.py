"""Admission: how much work the server takes on, decided before it spends anything on a request.

One bounded counter serves the three places work waits (generation streams, /likelihood scoring, upload
decoding): a request either gets a place at once or is refused with 503, never queued without bound. The
stream queue adds the order in which waiting streams reach the workers.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import QueueFull, ShuttingDown, Unavailable
from service.metrics import Metrics
from service.streams import GenerationStream


class Places:
    """At most `limit` requests in flight; `refusal` is raised for the next one. Thread-safe."""

    def __init__(self, limit: int, refusal: type[Unavailable], reason: str) -> None:
        self.limit = limit
        self.taken = 0
        self._refusal, self._reason = refusal, reason
        self._lock = threading.Lock()

    def check(self) -> None:
        """Refuse now if a request arriving now would be refused: checked before its upload is decoded."""
        if self.taken >= self.limit:
            raise self._refusal(self._reason)

    def take(self) -> None:
        with self._lock:
            self.check()
            self.taken += 1

    def release(self) -> None:
        with self._lock:
            self.taken -= 1

    @contextmanager
    def held(self) -> Iterator[None]:
        self.take()
        try:
            yield
        finally:
            self.release()


class StreamQueue:
    """Generation streams from submission to their worker: `capacity` slots plus `waiting` places, FIFO.

    Workers take streams when they have free slots and release each one when it leaves (finished,
    cancelled, failed); `stop` hands back whoever still waits.
    """

    def __init__(self, capacity: int, waiting: int, metrics: Metrics) -> None:
        self.places = Places(capacity + waiting, QueueFull, "all stream slots and the waiting queue are full")
        self.metrics = metrics
        self._pending: deque[GenerationStream] = deque()
        self._stopping = False
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        return self.places.taken

    def check_room(self) -> None:
        if self._stopping:
            raise ShuttingDown("the server is shutting down")
        self.places.check()

    def submit(self, stream: GenerationStream) -> None:
        """Queue a stream or refuse it (QueueFull, ShuttingDown) at once; never blocks."""
        with self._cond:
            self.check_room()
            self.places.take()
            self._pending.append(stream)
            self.metrics.queue_depth.set(len(self._pending))
            self._cond.notify()

    def take(self, free_slots: int, block: bool) -> list[GenerationStream] | None:
        """Up to free_slots waiting streams; None when stopping. A worker with no live stream blocks here,
        one with live streams only looks. Streams cancelled while waiting are released, not returned."""
        with self._cond:
            while block and not self._pending and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            # Streams whose client left while they waited give their places back now, not when a slot frees.
            for stream in [s for s in self._pending if s.cancelled.is_set()]:
                self._pending.remove(stream)
                self.places.release()
            taken = [self._pending.popleft() for _ in range(min(free_slots, len(self._pending)))]
            self.metrics.queue_depth.set(len(self._pending))
            return taken

    def release(self) -> None:
        """A stream taken by a worker (or handed back by `stop`) has left: its place is free."""
        self.places.release()

    def stop(self) -> list[GenerationStream]:
        """Refuse new streams, wake every worker; -> the streams that never reached one."""
        with self._cond:
            self._stopping = True
            waiting, self._pending = list(self._pending), deque()
            self._cond.notify_all()
        return waiting
