"""Which kernel on which device: the fastest for this host and slot count, by a short measurement.

A GPU host is not always faster than its own CPU at this model's sizes (small matrices, one step at a
time), so `auto` measures instead of assuming: every available (device, kernel) pair generates a few rounds
with all slots live, and the fastest wins.
"""

from __future__ import annotations

import copy
import logging
import time

import torch

from model_core.inference.draws import StreamParams
from model_core.inference.kernels.native import NativeKernelUnavailable, load_library, native_available
from model_core.inference.sampler import IncrementalSampler
from model_core.model import WaveNet
from model_core.mu_law import SILENCE_CODE

log = logging.getLogger("wavenet.kernels")
ROUNDS, STEPS = 3, 40
"""Timed rounds per measurement, and steps per round (as long as the engine's rounds, service/workers.py)."""


def candidates() -> list[tuple[str, str]]:
    """(device, backend) pairs this host can run; a native kernel that does not load (missing, stale ABI)
    is left out with a warning, so `auto` still starts on the torch kernel."""
    found = [("cpu", "torch")]
    if native_available():
        try:
            load_library()
            found.append(("cpu", "native"))
        except NativeKernelUnavailable as error:
            log.warning("%s; measuring the other kernels only", error)
    return found + ([("cuda", "torch")] if torch.cuda.is_available() else [])


def prime_all_with_silence(sampler: IncrementalSampler) -> None:
    """Every slot live (silent seeds, distinct random seeds) and one round run: allocations, caches and
    CUDA kernels are warm before anything is timed."""
    slots = range(sampler.batch_size)
    sampler.prime_slots(slots, torch.full((sampler.batch_size, 64), SILENCE_CODE, dtype=torch.long),
                        params=[StreamParams(random_seed=slot) for slot in slots])
    sampler.sample_steps(STEPS, sampler.batch_size)


def round_rate(sampler: IncrementalSampler, live: int) -> float:
    """Aggregate samples per second of slots 0..live-1: the best of a few rounds (noise only slows)."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        sampler.sample_steps(STEPS, live)  # returns codes on the host: the round is complete
        best = min(best, time.perf_counter() - started)
    return STEPS * live / best


def generation_rate(model: WaveNet, device: str, backend: str, slots: int, threads: int | None = None) -> float:
    """Aggregate samples per second with `slots` streams live."""
    sampler = IncrementalSampler(copy.deepcopy(model).to(device), slots, backend=backend, threads=threads)
    prime_all_with_silence(sampler)
    return round_rate(sampler, slots)


def fastest_kernel(model: WaveNet, slots: int,
                   threads: int | None = None) -> tuple[torch.device, str, dict[str, float]]:
    """-> (device, backend) that generate fastest with `slots` live streams, and every measured rate
    ("device/backend": samples per second)."""
    rates = {f"{device}/{backend}": generation_rate(model, device, backend, slots, threads)
             for device, backend in candidates()}
    device, backend = max(rates, key=rates.get).split("/")
    return torch.device(device), backend, rates
