"""Audio files in: anything soundfile decodes -> mono float32 at the model's rate (writing: wav_format.py).

soundfile (libsndfile) decodes WAV/FLAC/OGG in every sample format; soxr resamples with a proper
anti-aliasing filter. Bad input becomes an AudioError with a message fit for an end user.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import numpy as np
import soundfile
import soxr


class AudioError(ValueError):
    """The input is not usable audio: undecodable, empty, or holding NaN/Inf samples."""


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def read_audio(source: str | os.PathLike[str] | bytes | BinaryIO, sample_rate: int) -> np.ndarray:
    """Decode `source` (a path, bytes or file object) -> mono float32 in [-1, 1] at `sample_rate`."""
    if isinstance(source, bytes):
        if not source:
            raise AudioError("the audio file is empty (0 bytes)")
        source = io.BytesIO(source)
    try:
        data, rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"could not decode audio (WAV, FLAC or OGG expected): {error}") from error
    if data.shape[0] == 0:
        raise AudioError("the audio file holds no samples")
    if not np.isfinite(data).all():
        raise AudioError("the audio holds NaN or infinite sample values")
    mono = data.mean(axis=1)
    return np.clip(resample(mono, rate, sample_rate), -1.0, 1.0)
