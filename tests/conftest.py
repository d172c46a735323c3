"""Shared fixtures: small random models and real-sounding test audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_core import WaveNet, WaveNetConfig
from model_core.config import doubling

SMALL = WaveNetConfig(residual_channels=8, gate_channels=16, skip_channels=12, head_channels=24,
                      dilation_cycle=doubling(8), stacks=2)


def make_model(config: WaveNetConfig = SMALL, seed: int = 0, scale: float = 3.0) -> WaveNet:
    torch.manual_seed(seed)
    model = WaveNet(config).eval()
    # Default init leaves a small model's logits nearly flat; larger weights make exactness tests meaningful.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


@pytest.fixture
def small_model() -> WaveNet:
    return make_model()


def vowel(seconds: float = 0.5, rate: int = 8000, pitch: float = 140.0) -> np.ndarray:
    """A harmonic tone with a formant-like spectrum: speech-shaped audio without a data set."""
    t = np.arange(int(seconds * rate)) / rate
    harmonics = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 12))
    return (0.3 * harmonics / np.abs(harmonics).max()).astype(np.float32)
