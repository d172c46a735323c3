"""mu-law companding (mu = 255, 256 classes), as in the WaveNet paper (van den Oord et al., 2016, eq. 2).

The model predicts a 256-way softmax over companded codes; companding spends its 8 bits where speech
spends its energy (near zero), which is why 8 bits of mu-law sound far better than 8 bits of linear PCM.
Both numpy arrays and torch tensors are accepted and the result has the caller's array type.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

MU = 255
CLASSES = MU + 1
SILENCE_CODE = 128
"""The code of 0.0: what a stream with no seed starts from (ties in rounding go up: (0+1)/2*255 = 127.5)."""

_LOG1P_MU = math.log1p(MU)
Array = TypeVar("Array", np.ndarray, torch.Tensor)


def mu_law_encode(audio: Array) -> Array:
    """Float audio in [-1, 1] (values outside are clipped) -> integer codes 0..255 (int64)."""
    if isinstance(audio, torch.Tensor):
        x = audio.to(torch.float64).clamp(-1.0, 1.0)
        y = torch.sign(x) * torch.log1p(MU * x.abs()) / _LOG1P_MU
        return torch.floor((y + 1.0) / 2.0 * MU + 0.5).to(torch.int64)
    x = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / _LOG1P_MU
    return np.floor((y + 1.0) / 2.0 * MU + 0.5).astype(np.int64)


def mu_law_decode(codes: Array) -> Array:
    """Integer codes 0..255 -> float32 audio in [-1, 1] (the centre of each code's companded bin)."""
    if isinstance(codes, torch.Tensor):
        y = codes.to(torch.float64) * (2.0 / MU) - 1.0
        x = torch.sign(y) * torch.expm1(y.abs() * _LOG1P_MU) / MU
        return x.to(torch.float32)
    return mu_law_expand(np.asarray(codes, dtype=np.float64) * (2.0 / MU) - 1.0).astype(np.float32)


def mu_law_expand(companded: np.ndarray) -> np.ndarray:
    """The inverse of the mu-law curve: companded values in [-1, 1] -> linear float64 (any value, not only
    code centres: the baselines need the edges between codes)."""
    y = np.asarray(companded, dtype=np.float64)
    return np.sign(y) * np.expm1(np.abs(y) * _LOG1P_MU) / MU
