"""/likelihood work: scoring audio off the event loop, one request at a time, with a bounded wait."""

from __future__ import annotations

import asyncio

import numpy as np

from model_core.inference.likelihood import LN2, sample_nll
from model_core.model import WaveNet
from service.admission import Places
from service.errors import ScorerFull


class Scorer:
    """Runs the parallel forward (chunked, overlapping by the receptive field) in a thread. One scoring at
    a time keeps it from starving generation of cores; at most `queue_size` more may wait."""

    def __init__(self, model: WaveNet, queue_size: int) -> None:
        self.model = model
        self.places = Places(1 + queue_size, ScorerFull, "the scoring queue is full")
        self._lock = asyncio.Lock()

    async def score(self, codes: np.ndarray, hop_seconds: float) -> dict:
        with self.places.held():
            async with self._lock:
                nll = await asyncio.to_thread(sample_nll, self.model, codes)
        return summarise(nll, self.model.config.sample_rate, hop_seconds)


def summarise(nll: np.ndarray, sample_rate: int, hop_seconds: float) -> dict:
    bits = nll / LN2
    hop = max(1, round(hop_seconds * sample_rate))
    starts = np.arange(0, len(bits), hop)
    curve = (np.add.reduceat(bits, starts) / np.diff(np.r_[starts, len(bits)])) if len(bits) else np.array([])
    return {
        "sample_rate": sample_rate,
        "samples_scored": int(len(nll)),
        "total_nll_nats": float(nll.sum()),
        "bits_per_sample": float(bits.mean()) if len(bits) else None,
        "curve": {"hop_seconds": hop / sample_rate, "bits_per_sample": [round(float(b), 4) for b in curve]},
    }
