"""Offline generation of one stream: seed codes -> sampler -> new codes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from model_core.model import WaveNet
from model_core.mu_law import SILENCE_CODE
from model_core.sampler import IncrementalSampler

STEPS_PER_CALL = 256


def seed_or_silence(seed_codes: np.ndarray | None) -> np.ndarray:
    """A missing or empty seed means starting from silence (one sample of the zero code)."""
    if seed_codes is None or len(seed_codes) == 0:
        return np.array([SILENCE_CODE], dtype=np.int64)
    return np.asarray(seed_codes, dtype=np.int64)


def generate(model: WaveNet, seed_codes: np.ndarray | None, num_samples: int, temperature: float = 1.0,
             random_seed: int = 0, speaker: int | None = None, backend: str = "auto",
             on_progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Continue `seed_codes` by `num_samples` codes; the same arguments always give the same codes.

    The n-th new sample is drawn with counter_uniform(random_seed, n), as the service's engine does, so
    the CLI and the service agree sample for sample.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    sampler = IncrementalSampler(model, batch_size=1, backend=backend)
    speakers = None if speaker is None else torch.tensor([speaker])
    sampler.prime(torch.from_numpy(seed_or_silence(seed_codes))[None, :], speakers)
    out = np.empty(num_samples, dtype=np.int64)
    for start in range(0, num_samples, STEPS_PER_CALL):
        steps = min(STEPS_PER_CALL, num_samples - start)
        out[start:start + steps] = sampler.sample_steps(steps, np.array([temperature]), np.array([random_seed]),
                                                        np.array([start]))[0]
        if on_progress is not None:
            on_progress(steps)
    return out
