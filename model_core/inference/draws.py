"""Drawing codes from logits, reproducibly per stream.

Each stream's n-th draw uses a uniform number that is a pure function of (random_seed, n): a counter-based
generator (SplitMix64's finaliser over seed and counter). Draws are then vectorised over a batch, and a
stream's samples are the same whichever streams share its batch and whenever it joined.

In torch operations on whatever device the logits live (no host round trip between steps on a GPU); the C
kernel computes the very same numbers (wavenet_step.c), so a stream's samples are identical on either path.
64-bit arithmetic wraps in torch's int64 exactly as in uint64; right shifts are made logical by masking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _signed(value: int) -> int:
    """A 64-bit constant as the int64 with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)


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


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _mix64(z: torch.Tensor) -> torch.Tensor:
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def counter_uniform(seeds: torch.Tensor | np.ndarray, counters: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Uniform numbers in [0, 1), one per (seed, counter) pair, as float64 with 53 random bits."""
    seeds = torch.as_tensor(seeds, dtype=torch.int64)
    counters = torch.as_tensor(counters, dtype=torch.int64, device=seeds.device)
    z = _mix64(seeds * _GOLDEN + 1) + (counters + 1) * _GOLDEN
    return _shift_right(_mix64(z), 11).to(torch.float64) * (1.0 / 2**53)


def sample_codes(logits: torch.Tensor, temperatures: torch.Tensor | np.ndarray,
                 uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw from softmax(logits / temperature) for each row: (B, C) -> codes (B,) int64, on the
    logits' device. In float64, each row independent, so a row's result depends on nothing but itself."""
    temperatures = torch.as_tensor(temperatures, dtype=torch.float64, device=logits.device)
    scaled = logits.detach().to(torch.float64) / temperatures[:, None]
    scaled = scaled - scaled.max(dim=1, keepdim=True).values
    cdf = torch.cumsum(torch.exp(scaled), dim=1)
    targets = uniforms.to(logits.device) * cdf[:, -1]
    codes = (cdf <= targets[:, None]).sum(dim=1)
    return codes.clamp(max=logits.shape[1] - 1)
