"""Training-time augmentation: what users' recordings do to speech that five studio voices never show.

Applied on the fly to each (batch, time) crop of float audio, before the checkpoint's front end and mu-law,
drawn from the training run's numpy Generator, so a run (and its --resume) sees the same augmented
batches every time. Each kind is switched on by name (`wavenet train --augment gain dc eq ...`) and hits a
row with probability `probability`. The order follows the signal path of a real recording: the talker's
rate (speed), the microphone and channel (eq), the level (gain), the room and electronics (noise floor, hum,
rumble, DC offset), and finally the converter's clipping.

Everything is vectorised over the batch except speed (one soxr call per row) and eq (one filter per row):
both cost well under a millisecond per crop, against hundreds of milliseconds per training step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import soxr
from scipy.signal import butter, lfilter, sosfilt

KINDS = ("speed", "eq", "gain", "noise", "hum", "rumble", "dc")
SPEED_RANGE = (0.9, 1.1)
"""Speed perturbation factors, as speech-recognition recipes use (Ko et al., 2015)."""


def crop_margin(length: int) -> int:
    """Extra samples a crop must carry so that speeding it up by the largest factor still fills `length`."""
    return int(math.ceil(length * (SPEED_RANGE[1] - 1.0))) + 64


@dataclass(frozen=True)
class Augmenter:
    kinds: tuple[str, ...]
    sample_rate: int
    probability: float = 0.5

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown augmentation kinds {unknown}; known: {', '.join(KINDS)}")

    def __call__(self, audio: np.ndarray, padding: np.ndarray, length: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """audio (B, length + crop_margin(length)) float32 with `padding` (B,) leading zeros ->
        ((B, length) float32 in [-1, 1], (B,) padding of the result). Padding stays silent: it stands for
        the time before the file began, which the model at inference sees as nothing."""
        batch = audio.shape[0]
        x = audio.astype(np.float64)
        hit = {kind: (rng.random(batch) < self.probability) & (kind in self.kinds) for kind in KINDS}
        x, padding = self._speed(x, padding, length, hit["speed"], rng)
        t = np.arange(length)
        live = t[None, :] >= padding[:, None]
        for row in np.flatnonzero(hit["eq"]):
            x[row] = self._equalise(x[row], rng)
        if hit["gain"].any():
            gain_db = rng.uniform(-30.0, 6.0, batch)
            x *= np.where(hit["gain"], 10.0 ** (gain_db / 20.0), 1.0)[:, None]
        if hit["noise"].any():
            level = np.where(hit["noise"], db(rng.uniform(-75.0, -30.0, batch)), 0.0)
            x += level[:, None] * coloured_noise(rng, batch, length, rng.integers(0, 3, batch))
        if hit["hum"].any():
            level = np.where(hit["hum"], db(rng.uniform(-60.0, -30.0, batch)), 0.0)
            mains = np.where(rng.random(batch) < 0.5, 50.0, 60.0)
            x += level[:, None] * mains_hum(rng, mains, length, self.sample_rate)
        if hit["rumble"].any():
            level = np.where(hit["rumble"], db(rng.uniform(-60.0, -30.0, batch)), 0.0)
            x += level[:, None] * self._rumble(rng, batch, length)
        if hit["dc"].any():
            x += np.where(hit["dc"], rng.uniform(-0.08, 0.08, batch), 0.0)[:, None]
        x = np.where(live, np.clip(x, -1.0, 1.0), 0.0)
        return x.astype(np.float32), padding

    def _speed(self, x: np.ndarray, padding: np.ndarray, length: int, hit: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Resample rows by a factor in SPEED_RANGE (pitch and tempo together) -> the last `length`."""
        factors = rng.uniform(*SPEED_RANGE, len(x))
        out = x[:, -length:].copy()
        new_padding = np.maximum(padding - (x.shape[1] - length), 0)
        for row in np.flatnonzero(hit):
            source = x[row, padding[row]:]
            need = int(math.ceil(length * factors[row])) + 32
            played = soxr.resample(source[-need:], self.sample_rate * factors[row], self.sample_rate, quality="HQ")
            played = played[-length:]
            out[row] = 0.0
            out[row, length - len(played):] = played
            new_padding[row] = length - len(played)
        return out, new_padding

    def _equalise(self, row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random channel colouring: a shelf or peak (+-12 dB), the telephone band, or a low-pass."""
        rate = self.sample_rate
        choice = rng.integers(0, 5)
        if choice == 0:
            return sosfilt(butter(4, [300.0, min(3400.0, 0.45 * rate)], "bandpass", fs=rate, output="sos"), row)
        if choice == 1:
            return sosfilt(butter(4, rng.uniform(1500.0, 0.45 * rate), "lowpass", fs=rate, output="sos"), row)
        gain_db = rng.uniform(-12.0, 12.0)
        shape = ("low_shelf", "high_shelf", "peak")[choice - 2]
        frequency = {"low_shelf": rng.uniform(80.0, 400.0), "high_shelf": rng.uniform(1500.0, 3000.0),
                     "peak": rng.uniform(200.0, 3000.0)}[shape]
        b, a = rbj_biquad(shape, frequency, gain_db, rate)
        return lfilter(b, a, row)

    def _rumble(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        """(B, T) low-frequency rumble of unit RMS: white noise through a 2nd-order low-pass at 20-120 Hz."""
        cutoff = rng.uniform(20.0, 120.0)
        noise = sosfilt(butter(2, cutoff, "lowpass", fs=self.sample_rate, output="sos"),
                        rng.standard_normal((batch, length)), axis=-1)
        return noise / np.maximum(noise.std(axis=1, keepdims=True), 1e-12)


def mains_hum(rng: np.random.Generator, mains: np.ndarray, length: int, sample_rate: int) -> np.ndarray:
    """(B, T) mains hum of unit RMS at each row's mains frequency (50 or 60 Hz), with 7 harmonics falling
    as 1/k and random phases, as rectifiers and transformers make it."""
    harmonics = np.arange(1, 8)
    phases = rng.uniform(0, 2 * np.pi, (len(mains), len(harmonics)))
    weights = 1.0 / harmonics
    t = np.arange(length)
    angle = 2 * np.pi * mains[:, None, None] * harmonics[None, :, None] * t[None, None, :] / sample_rate
    hum = (weights[None, :, None] * np.sin(angle + phases[:, :, None])).sum(axis=1)
    return hum / np.sqrt((weights**2).sum() / 2)


def db(level_db: np.ndarray | float) -> np.ndarray:
    return 10.0 ** (np.asarray(level_db) / 20.0)


def coloured_noise(rng: np.random.Generator, batch: int, length: int, colour: np.ndarray) -> np.ndarray:
    """(B, T) noise of unit RMS; colour per row: 0 white, 1 pink (1/f power), 2 brown (1/f^2 power),
    shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal((batch, length)), axis=1)
    frequency = np.maximum(np.fft.rfftfreq(length), 1.0 / length)
    spectrum *= frequency[None, :] ** (-colour[:, None] / 2.0)
    spectrum[:, 0] = 0.0  # no DC: a noise floor is not an offset
    noise = np.fft.irfft(spectrum, n=length, axis=1)
    return noise / np.maximum(noise.std(axis=1, keepdims=True), 1e-12)


def rbj_biquad(shape: str, frequency: float, gain_db: float, sample_rate: int,
               q: float = 0.707) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the Audio EQ Cookbook (R. Bristow-Johnson) shelf and peaking filters; scipy has none."""
    amplitude = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * frequency / sample_rate
    alpha = np.sin(w0) / (2 * q)
    cos = np.cos(w0)
    if shape == "peak":
        b = [1 + alpha * amplitude, -2 * cos, 1 - alpha * amplitude]
        a = [1 + alpha / amplitude, -2 * cos, 1 - alpha / amplitude]
    else:
        sign = 1 if shape == "low_shelf" else -1
        root = 2 * np.sqrt(amplitude) * alpha
        ap, am = amplitude + 1, amplitude - 1
        b = [amplitude * (ap - sign * am * cos + root), sign * 2 * amplitude * (am - sign * ap * cos),
             amplitude * (ap - sign * am * cos - root)]
        a = [ap + sign * am * cos + root, -sign * 2 * (am + sign * ap * cos), ap + sign * am * cos - root]
    return np.asarray(b) / a[0], np.asarray(a) / a[0]
