"""Offline generation of one stream: seed codes -> sampler -> new codes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from model_core.model import WaveNet
from model_core.mu_law import SILENCE_CODE
from model_core.sampler import IncrementalSampler
from model_core.sampling import counter_uniform, sample_codes


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
    seed = torch.from_numpy(seed_or_silence(seed_codes))[None, :]
    speakers = None if speaker is None else torch.tensor([speaker])
    logits = sampler.prime(seed, speakers)
    out = np.empty(num_samples, dtype=np.int64)
    temperatures = np.array([temperature])
    seeds = np.array([random_seed])
    for n in range(num_samples):
        code = sample_codes(logits, temperatures, counter_uniform(seeds, np.array([n])))
        out[n] = code[0]
        if n + 1 < num_samples:
            logits = sampler.step(torch.from_numpy(code))
        if on_progress is not None:
            on_progress(1)
    return out
