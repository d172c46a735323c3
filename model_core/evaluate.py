"""`wavenet eval`: a checkpoint's NLL on a set of files beside the classical baselines on the same samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model_core.audio_io import read_audio
from model_core.baselines import baseline_bits
from model_core.checkpoint import load_checkpoint
from model_core.corpus import discover_audio, load_split
from model_core.likelihood import sample_nll
from model_core.mu_law import mu_law_encode


def load_files(data: Path, sample_rate: int, max_files: int | None = None) -> list[np.ndarray]:
    """Code arrays from a corpus cache (its held-out split) or from a directory of audio files."""
    if (data / "index.json").exists():
        split = load_split(data, "heldout")
        count = len(split.files) if max_files is None else min(max_files, len(split.files))
        return [split.file_codes(i) for i in range(count)]
    paths = discover_audio(data)[:max_files]
    if not paths:
        raise FileNotFoundError(f"no audio files under {data}")
    return [mu_law_encode(read_audio(p, sample_rate)) for p in paths]


def evaluate_files(checkpoint: str | Path, data: Path, max_files: int | None = None) -> dict:
    model, metadata = load_checkpoint(checkpoint)
    files = [f for f in load_files(Path(data), model.config.sample_rate, max_files) if len(f) > 1]
    total = sum(sample_nll(model, f).sum() for f in tqdm(files, desc="scoring", unit="file"))
    samples = sum(len(f) - 1 for f in files)
    return {
        "files": len(files),
        "samples": samples,
        "seconds": round(sum(map(len, files)) / model.config.sample_rate, 1),
        "model_bits_per_sample": round(total / samples / math.log(2), 4),
        "baselines_bits_per_sample": baseline_bits(files),
        "checkpoint_steps": metadata.get("steps"),
    }
