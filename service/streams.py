"""A generation request and its stream: the handle the HTTP side iterates while a worker fills it."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from model_core.inference.draws import StreamParams


@dataclass(frozen=True)
class GenerationRequest:
    seed_codes: np.ndarray | None  # (T,) int64 mu-law codes, or None: start from silence
    num_samples: int
    params: StreamParams


@dataclass(eq=False)
class GenerationStream:
    """`async for chunk in stream` yields arrays of new codes until the request's samples are all there, or
    raises the typed error (service.errors) that ended it. A worker thread feeds it through `emit`/`end`."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    deadline: float
    submitted_at: float = field(default_factory=time.monotonic)
    first_audio_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    delivered: int = 0
    """Codes handed to the reader so far."""
    _chunks: asyncio.Queue = field(default_factory=asyncio.Queue)

    def cancel(self) -> None:
        """Ask the worker to drop this stream; its slot is freed at the end of the current round."""
        self.cancelled.set()

    def emit(self, codes: np.ndarray) -> None:
        self._put(codes)

    def end(self, error: BaseException | None = None) -> None:
        """No more chunks: the stream is complete, or `error` says why not."""
        self._put(error if error is not None else _END)

    def _put(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self._chunks.put_nowait, item)
        except RuntimeError:  # the event loop has closed (server shutdown): nobody is left to read it
            pass

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> np.ndarray:
        item = await self._chunks.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        self.delivered += len(item)
        return item


_END = object()
