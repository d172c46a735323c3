"""Drawing codes from logits, reproducibly per stream.

Each stream's n-th draw uses a uniform number that is a pure function of (random_seed, n): a counter-based
generator (SplitMix64's finaliser over seed and counter). Draws are then vectorised over a batch, and a
stream's samples are the same whichever streams share its batch and whenever it joined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class StreamParams:
    """What a stream's draws depend on besides its logits; set when it is primed, fixed for its life."""

    temperature: float = 1.0
    random_seed: int = 0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError("temperature must be > 0")
        if not 0 <= self.random_seed < 2**63:
            raise ValueError("random_seed must be in [0, 2**63)")


def _mix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def counter_uniform(seeds: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1), one per (seed, counter) pair, as float64 with 53 random bits."""
    seeds = np.asarray(seeds, dtype=np.int64).astype(np.uint64)
    counters = np.asarray(counters, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = _mix64(seeds * _GOLDEN + np.uint64(1)) + (counters + np.uint64(1)) * _GOLDEN
    return (_mix64(z) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def sample_codes(logits: torch.Tensor, temperatures: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw from softmax(logits / temperature) for each row: (B, C) -> codes (B,) int64.

    Done in float64 numpy, row by row independent, so that a row's result depends on nothing but itself.
    """
    scaled = logits.detach().to("cpu", torch.float64).numpy() / np.asarray(temperatures, np.float64)[:, None]
    scaled -= scaled.max(axis=1, keepdims=True)
    cdf = np.cumsum(np.exp(scaled), axis=1)
    targets = np.asarray(uniforms, np.float64) * cdf[:, -1]
    codes = (cdf <= targets[:, None]).sum(axis=1)
    return np.minimum(codes, logits.shape[1] - 1).astype(np.int64)
