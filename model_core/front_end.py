"""The input front end: how float audio becomes the codes a checkpoint was trained on.

float audio at the model's rate -> DC-removing high-pass (when the checkpoint has one) -> mu-law codes.

Why a first-order DC blocker, H(z) = g (1 - z^-1) / (1 - R z^-1), at `highpass_hz` (20 Hz in the shipped
model): a DC offset is the one thing that makes every sample surprising (a file at +0.06 of full scale
shifts every mu-law code of its quiet parts by ~30 codes), and a zero at z = 1 removes it exactly. With
R = exp(-2 pi fc / fs) the time constant is 1 / (2 pi fc) = 8 ms at 20 Hz, so a file that starts on an
offset costs only its first few tens of milliseconds, while speech's lowest fundamentals (> 70 Hz) lose
less than 0.4 dB. Hum and rumble above the cutoff are left in the signal: the model hears them in
training (augmentation) instead of a steeper filter colouring every voice. g = (1 + R) / 2 makes the gain
exactly 1 at Nyquist.

The filter is stateful (`HighPass.process` carries its state between calls), so a stream fed in chunks,
chunked scoring and priming give the same samples as one pass over the whole file.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

from model_core.config import WaveNetConfig
from model_core.mu_law import mu_law_encode


def dc_blocker(cutoff_hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the first-order DC blocker with its -3 dB point near cutoff_hz."""
    pole = math.exp(-2.0 * math.pi * cutoff_hz / sample_rate)
    gain = (1.0 + pole) / 2.0
    return np.array([gain, -gain]), np.array([1.0, -pole])


class HighPass:
    """The checkpoint's high-pass as a stateful filter: process(chunk) calls continue one another, so a
    file fed in pieces comes out exactly as in one pass."""

    def __init__(self, cutoff_hz: float, sample_rate: int) -> None:
        self.b, self.a = dc_blocker(cutoff_hz, sample_rate)
        self.state: np.ndarray | None = None

    def process(self, audio: np.ndarray) -> np.ndarray:
        """(..., T) float -> (..., T) float32, each row continuing from the previous call's state."""
        audio = np.asarray(audio, dtype=np.float64)
        if self.state is None:
            self.state = np.zeros(audio.shape[:-1] + (1,))
        out, self.state = lfilter(self.b, self.a, audio, axis=-1, zi=self.state)
        return out.astype(np.float32)


def prepare_audio(audio: np.ndarray, config: WaveNetConfig) -> np.ndarray:
    """(..., T) float audio in [-1, 1] at config.sample_rate -> (..., T) float32 as the model hears it,
    one pass from each row's start. A checkpoint without a front end (highpass_hz == 0) gets its audio
    unchanged, as every checkpoint did before the front end existed."""
    if not config.highpass_hz:
        return np.asarray(audio, dtype=np.float32)
    return HighPass(config.highpass_hz, config.sample_rate).process(audio)


def encode_input(audio: np.ndarray, config: WaveNetConfig) -> np.ndarray:
    """(..., T) float audio -> (..., T) int64 codes the model scores or continues: the front end, then mu-law."""
    return mu_law_encode(prepare_audio(audio, config))
