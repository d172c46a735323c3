"""Classical reference models of mu-law code sequences, in bits per sample, so every NLL has a yardstick.

Each takes a list of code arrays (one per file) and scores codes[1:] of every file, the same samples the
WaveNet's likelihood scores. The adaptive models are sequential codes: a sample's probability uses only
what came before it (in file order), like a real compressor, so their figures are honest code lengths.
"""

from __future__ import annotations

import math

import numpy as np

from model_core.mu_law import CLASSES, MU, SILENCE_CODE, mu_law_decode, mu_law_expand


def uniform_bits(files: list[np.ndarray]) -> float:
    return math.log2(CLASSES)


def histogram_bits(files: list[np.ndarray]) -> float:
    """Entropy of the codes' marginal histogram, fitted on the scored samples themselves (a lower bound
    for any memoryless model)."""
    scored = np.concatenate([f[1:] for f in files])
    p = np.bincount(scored, minlength=CLASSES) / len(scored)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _counts_before(keys: np.ndarray) -> np.ndarray:
    """For each position, how often its key occurred earlier in the sequence (vectorised)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    ranks = np.empty(len(keys), dtype=np.int64)
    ranks[order] = np.arange(len(keys)) - group_start
    return ranks


def markov_bits(files: list[np.ndarray], order: int = 2, strength: float = 8.0) -> float:
    """Adaptive order-`order` Markov model with Dirichlet back-off to lower orders (order 0: adaptive
    histogram with a uniform prior): p_k = (n(ctx_k, x) + s * p_{k-1}) / (n(ctx_k) + s)."""
    padded = np.concatenate([np.r_[np.full(order, SILENCE_CODE), f] for f in files])
    scored = np.concatenate([np.r_[np.zeros(order + 1, bool), np.ones(len(f) - 1, bool)] for f in files])
    symbols = padded[order:]
    probability = np.full(len(symbols), 1.0 / CLASSES)
    for k in range(order + 1):
        context = np.zeros(len(symbols), dtype=np.int64)
        for lag in range(1, k + 1):
            context = context * CLASSES + padded[order - lag: len(padded) - lag]
        joint = _counts_before(context * CLASSES + symbols)
        marginal = _counts_before(context)
        probability = (joint + strength * probability) / (marginal + strength)
    return float(-np.log2(probability[scored[order:]]).mean())


def _bin_edges() -> tuple[np.ndarray, np.ndarray]:
    """Linear-domain edges of each code's bin: decoded companded midpoints, open at both ends."""
    mid = mu_law_expand((np.arange(CLASSES - 1) + 0.5) * (2.0 / MU) - 1.0)
    return np.r_[-np.inf, mid], np.r_[mid, np.inf]


def _laplace_cdf(x: np.ndarray, mu: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = (x - mu) / b
    return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))


def lpc_laplace_bits(files: list[np.ndarray], order: int = 16, window: int = 32, floor: float = 1e-4) -> float:
    """Linear prediction (least-squares LPC of `order` per file) with a discretised Laplace residual whose
    scale is the mean |residual| of the previous `window` samples."""
    lo_edges, hi_edges = _bin_edges()
    total, count = 0.0, 0
    for codes in files:
        if len(codes) < 2:
            continue
        x = mu_law_decode(codes).astype(np.float64)
        padded = np.r_[np.zeros(order), x]
        lags = np.stack([padded[order - k: len(padded) - k] for k in range(1, order + 1)], axis=1)
        coefficients, *_ = np.linalg.lstsq(lags, x, rcond=None)
        prediction = lags @ coefficients
        error = np.abs(x - prediction)
        cumulative = np.r_[0.0, np.cumsum(error)]
        t = np.arange(len(x))
        scale = (cumulative[t] - cumulative[np.maximum(t - window, 0)]) / np.maximum(np.minimum(t, window), 1)
        scale = np.maximum(scale, floor)
        mass = (_laplace_cdf(hi_edges[codes], prediction, scale)
                - _laplace_cdf(lo_edges[codes], prediction, scale))
        probability = (1 - 1e-4) * mass + 1e-4 / CLASSES
        total += -np.log2(probability[1:]).sum()
        count += len(codes) - 1
    return total / max(count, 1)


BASELINES = {
    "uniform": uniform_bits,
    "histogram": histogram_bits,
    "markov2_adaptive": markov_bits,
    "lpc16_laplace_adaptive": lpc_laplace_bits,
}


def baseline_bits(files: list[np.ndarray]) -> dict[str, float]:
    return {name: round(fn(files), 4) for name, fn in BASELINES.items()}
