"""Training data: any tree of WAV/FLAC/OGG files -> a cached mu-law corpus, split reproducibly by file.

Audio is decoded and resampled once into memory-mapped uint8 code arrays (train.u8, heldout.u8) with an
index of file offsets, so epochs never decode audio again. A file is held out when
int(sha1(path relative to its root).hexdigest(), 16) % 10 == 0, the same rule for any corpus (for the
Asterisk voices each voice folder is a root; for LibriSpeech, the split folder, e.g. train-clean-100).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model_core.audio_io import AudioError, read_audio
from model_core.mu_law import SILENCE_CODE, mu_law_encode

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
ASTERISK_VOICES = {  # Debian's asterisk-core-sounds-*-wav packages, CC-BY-SA-3.0
    "asterisk-core-sounds-en-wav": "en_US_f_Allison",
    "asterisk-core-sounds-es-wav": "es_MX_f_Allison",
    "asterisk-core-sounds-fr-wav": "fr_CA_f_June",
    "asterisk-core-sounds-it-wav": "it_IT_m_Carlo",
    "asterisk-core-sounds-ru-wav": "ru_RU_f_IvrvoiceRU",
}
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
INDEX_VERSION = 1


def discover_audio(root: Path) -> list[Path]:
    """Every audio file under root, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def is_heldout(relative_path: str) -> bool:
    return int(hashlib.sha1(relative_path.encode()).hexdigest(), 16) % 10 == 0


@dataclass
class Split:
    """One memory-mapped split: codes of all files back to back, and where each file starts."""

    codes: np.ndarray  # uint8 (N,)
    offsets: np.ndarray  # int64 (files + 1,)
    files: list[str]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def file_codes(self, i: int) -> np.ndarray:
        return np.asarray(self.codes[self.offsets[i]: self.offsets[i + 1]], dtype=np.int64)

    def random_crops(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        """(batch, length) int64 crops; a file is chosen in proportion to its length (so every sample is
        equally likely), and crops reaching before a file's start are left-padded with silence."""
        lengths = self.lengths
        files = rng.choice(len(lengths), size=batch, p=lengths / lengths.sum())
        ends = rng.integers(1, lengths[files] + 1)
        out = np.full((batch, length), SILENCE_CODE, dtype=np.int64)
        for row, (f, end) in enumerate(zip(files, ends, strict=True)):
            start = max(0, end - length)
            piece = self.codes[self.offsets[f] + start: self.offsets[f] + end]
            out[row, length - len(piece):] = piece
        return out


def build_corpus(roots: list[Path], cache: Path, sample_rate: int) -> dict:
    """Decode, resample and mu-law encode every file under `roots` into `cache` (reused when unchanged)."""
    roots = [Path(r).resolve() for r in roots]
    cache.mkdir(parents=True, exist_ok=True)
    index_path = cache / "index.json"
    key = {"version": INDEX_VERSION, "roots": [str(r) for r in roots], "sample_rate": sample_rate}
    if index_path.exists():
        index = json.loads(index_path.read_text())
        if index.get("key") == key:
            return index
    entries = [(root, path) for root in roots for path in discover_audio(root)]
    if not entries:
        raise FileNotFoundError(f"no WAV/FLAC/OGG files under {', '.join(map(str, roots))}")
    splits: dict[str, dict[str, list]] = {"train": {"files": [], "lengths": []},
                                          "heldout": {"files": [], "lengths": []}}
    handles = {name: open(cache / f"{name}.u8.tmp", "wb") for name in splits}
    skipped = []
    try:
        for root, path in tqdm(entries, desc="building corpus", unit="file"):
            relative = path.relative_to(root).as_posix()
            try:
                codes = mu_law_encode(read_audio(path, sample_rate)).astype(np.uint8)
            except AudioError as error:
                skipped.append(f"{path}: {error}")
                continue
            name = "heldout" if is_heldout(relative) else "train"
            handles[name].write(codes.tobytes())
            splits[name]["files"].append(f"{root.name}/{relative}")
            splits[name]["lengths"].append(len(codes))
    finally:
        for handle in handles.values():
            handle.close()
    for name in splits:
        (cache / f"{name}.u8.tmp").replace(cache / f"{name}.u8")
    index = {"key": key, "splits": splits, "skipped": skipped,
             "seconds": {name: sum(s["lengths"]) / sample_rate for name, s in splits.items()}}
    index_path.write_text(json.dumps(index))
    return index


def load_split(cache: Path, name: str) -> Split:
    index = json.loads((cache / "index.json").read_text())
    split = index["splits"][name]
    lengths = np.asarray(split["lengths"], dtype=np.int64)
    if not len(lengths):
        raise ValueError(f"the {name} split in {cache} is empty")
    codes = np.memmap(cache / f"{name}.u8", dtype=np.uint8, mode="r")
    return Split(codes=codes, offsets=np.concatenate([[0], np.cumsum(lengths)]), files=split["files"])
