"""Offline generation of one stream: seed codes -> sampler -> new codes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from model_core.inference.draws import StreamParams
from model_core.inference.sampler import IncrementalSampler
from model_core.model import WaveNet
from model_core.mu_law import SILENCE_CODE

STEPS_PER_CALL = 256


def seed_or_silence(seed_codes: np.ndarray | None) -> torch.Tensor:
    """A seed as the sampler primes it, (1, T) int64; a missing or empty one means silence (one zero code)."""
    if seed_codes is None or len(seed_codes) == 0:
        return torch.full((1, 1), SILENCE_CODE, dtype=torch.long)
    return torch.as_tensor(np.asarray(seed_codes, dtype=np.int64))[None, :]


def generate(model: WaveNet, seed_codes: np.ndarray | None, num_samples: int, params: StreamParams,
             speaker: int | None = None, backend: str = "auto",
             on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Continue `seed_codes` by `num_samples` codes; the same arguments always give the same codes.

    One slot of the same sampler methods the service's engine calls (prime_slots, sample_steps), so the CLI
    and the service agree sample for sample.
    """
    sampler = IncrementalSampler(model, batch_size=1, backend=backend)
    speakers = None if speaker is None else torch.tensor([speaker])
    sampler.prime_slots([0], seed_or_silence(seed_codes), speakers, [params])
    out = np.empty(num_samples, dtype=np.int64)
    for start in range(0, num_samples, STEPS_PER_CALL):
        steps = min(STEPS_PER_CALL, num_samples - start)
        out[start:start + steps] = sampler.sample_steps(steps, 1)[0]
        if on_progress is not None:
            on_progress(steps)
    return out
