"""`wavenet eval`: a checkpoint's NLL beside classical baselines, on clean audio and under the conditions
users' recordings bring (offsets, levels, channels, speed, noise floors, hum).

Every condition transforms each file's float audio (deterministically: the random parts are seeded by the
file's index), then the checkpoint's own front end and mu-law make the codes that the model AND the
baselines score: all figures of a row are code lengths of one and the same code sequence. Per row: the
model's bits per sample, adaptive LPC-16 (Laplace), adaptive order-2 Markov and uniform; the worst file;
the share of files on which the model needs more bits than LPC-16; and how many files cost more than
8 bits per sample (worse than uniform).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import butter, sosfilt
from tqdm import tqdm

from model_core.checkpoint import load_checkpoint
from model_core.front_end import encode_input
from model_core.inference.likelihood import LN2, sample_nll
from model_core.model import WaveNet
from training.augment import coloured_noise, db, mains_hum
from training.baselines import lpc_laplace_bits, markov_bits
from training.corpus import decode_file, discover_audio, load_split

Transform = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
"""(T,) float audio, sample rate, the file's generator -> transformed (T',) float audio."""


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


def _filtered(kind: str, cutoff: float | list[float], order: int) -> Transform:
    return lambda x, rate, _: sosfilt(butter(order, cutoff, kind, fs=rate, output="sos"), x)


def _speed(factor: float) -> Transform:
    """Played `factor` times as fast: pitch and tempo together (factor 0.9 -> 11% longer, lower)."""
    return lambda x, rate, _: soxr.resample(x, rate * factor, rate, quality="HQ")


CONDITIONS: dict[str, Transform] = {
    "clean": lambda x, rate, _: x,
    "dc_offset_+0.05": lambda x, rate, _: x + 0.05,
    "gain_-24dB": lambda x, rate, _: x * db(-24.0),
    "gain_+6dB_clipped": lambda x, rate, _: np.clip(x * db(6.0), -1.0, 1.0),
    "telephone_300-3400Hz": _filtered("bandpass", [300.0, 3400.0], 4),
    "lowpass_2kHz": _filtered("lowpass", 2000.0, 8),
    "speed_0.9": _speed(0.9),
    "speed_1.1": _speed(1.1),
    "white_noise_30dB_SNR": lambda x, rate, rng: x + _rms(x) * db(-30.0) * coloured_noise(
        rng, 1, len(x), np.array([0]))[0],
    "pink_floor_-35dBFS": lambda x, rate, rng: x + db(-35.0) * coloured_noise(rng, 1, len(x), np.array([1]))[0],
    "hum_50Hz_-30dBFS": lambda x, rate, rng: x + db(-30.0) * mains_hum(rng, np.array([50.0]), len(x), rate)[0],
}


def load_files(data: Path, sample_rate: int, max_files: int | None = None,
               voices: set[str] | None = None) -> list[np.ndarray]:
    """(T,) float audio arrays from a corpus cache (its held-out split, optionally only some voices; at most
    max_files of them, evenly spaced) or from a directory of audio files (the first max_files)."""
    if (data / "index.json").exists():
        split = load_split(data, "heldout")
        if voices:
            split = split.select(voices)
        count = len(split.files) if max_files is None else min(max_files, len(split.files))
        # Evenly spaced, so that a subset covers every voice (files are stored voice by voice).
        return [split.file_audio(int(i)) for i in np.linspace(0, len(split.files) - 1, count).round()]
    paths = discover_audio(data)[:max_files]
    if not paths:
        raise FileNotFoundError(f"no audio files under {data}")
    return [decode_file(p, sample_rate) for p in paths]


def score_condition(model: WaveNet, audio: list[np.ndarray], transform: Transform) -> dict:
    """One row: model and baselines on the same codes of every transformed file."""
    config = model.config
    codes = [encode_input(np.clip(transform(x, config.sample_rate, np.random.default_rng(i)), -1.0, 1.0), config)
             for i, x in enumerate(audio)]
    codes = [c for c in codes if len(c) > 1]
    scored = np.array([len(c) - 1 for c in codes])
    model_bits = np.array([sample_nll(model, c).sum() / LN2 for c in codes]) / scored
    lpc_bits = np.array([lpc_laplace_bits([c]) for c in codes])
    samples = scored.sum()
    return {
        "files": len(codes),
        "samples": int(samples),
        "seconds": round(float(samples) / config.sample_rate, 1),
        "model": round(float((model_bits * scored).sum() / samples), 4),
        "lpc16": round(float((lpc_bits * scored).sum() / samples), 4),
        "markov2": round(markov_bits(codes), 4),
        "uniform": 8.0,
        "worst_file": round(float(model_bits.max()), 4),
        "share_above_lpc16": round(float((model_bits > lpc_bits).mean()), 4),
        "files_above_8": int((model_bits > 8.0).sum()),
    }


def evaluate_files(checkpoint: str | Path, data: Path, max_files: int | None = None,
                   conditions: list[str] | None = None, voices: set[str] | None = None) -> dict:
    model, metadata = load_checkpoint(checkpoint)
    audio = [a for a in load_files(Path(data), model.config.sample_rate, max_files, voices) if len(a) > 1]
    rows = {}
    for name in tqdm(conditions or ["clean"], desc="conditions", unit="condition"):
        rows[name] = score_condition(model, audio, CONDITIONS[name])
    return {"checkpoint_steps": metadata.get("steps"), "front_end_highpass_hz": model.config.highpass_hz,
            "voices": sorted(voices) if voices else "all", "conditions": rows}


def markdown_table(result: dict) -> str:
    """The rows as a Markdown table for the model card."""
    lines = ["| condition | files | WaveNet | LPC-16 | Markov-2 | uniform | worst file | files above LPC-16 "
             "| files above 8 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["conditions"].items():
        lines.append(f"| {name} | {row['files']} | {row['model']:.3f} | {row['lpc16']:.3f} | {row['markov2']:.3f} "
                     f"| {row['uniform']:.0f} | {row['worst_file']:.3f} | {100 * row['share_above_lpc16']:.1f}% "
                     f"| {row['files_above_8']} |")
    return "\n".join(lines)
