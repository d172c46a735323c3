"""Training data: any tree of audio files -> a cached 16-bit PCM corpus, split reproducibly by file.

Audio is decoded and resampled once into memory-mapped int16 arrays (train.i16, heldout.i16) with an
index of file offsets, so epochs never decode audio again. The cache holds PCM, not mu-law codes, because
augmentation and the checkpoint's front end work on the waveform before it is companded. A file is held out when
int(sha1(path relative to its root).hexdigest(), 16) % 10 == 0, the same rule for any corpus (for the
Asterisk voices each voice folder is a root; for LibriSpeech, the split folder, e.g. train-clean-100).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soxr
from tqdm import tqdm

from model_core.audio_io import AudioError, read_audio

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".gsm"}
ASTERISK_VOICES = {  # Debian's asterisk-core-sounds-*-wav packages, CC-BY-SA-3.0
    "asterisk-core-sounds-en-wav": "en_US_f_Allison",
    "asterisk-core-sounds-es-wav": "es_MX_f_Allison",
    "asterisk-core-sounds-fr-wav": "fr_CA_f_June",
    "asterisk-core-sounds-it-wav": "it_IT_m_Carlo",
    "asterisk-core-sounds-ru-wav": "ru_RU_f_IvrvoiceRU",
}
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
PROMPT_VOICES_ROOT = Path("data/voices")
"""Where scripts/install-voices.sh unpacks the GSM 6.10 prompt sets (folders named as below)."""
TRAINED_PROMPT_VOICES = ("fr_FR_f_Armelle",)
"""asterisk-prompt-fr-armelle (BSD-style licence, compatible with the weights' CC-BY-SA-3.0): trained on. The
other set there, es_CO_f_July (asterisk-prompt-es-co, GPL-2, which CC-BY-SA-3.0 weights cannot carry), is
never trained on: it is an unseen speaker for `wavenet eval --data data/voices/es_CO_f_July`."""
INDEX_VERSION = 2
PCM_SCALE = 32767.0


def discover_audio(root: Path) -> list[Path]:
    """Every audio file under root, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


GSM_FRAME_BYTES = 33
GSM_MAGIC = 0xD
"""libgsm's frame layout: 33 bytes, the first four bits 0xD, then 260 bits of parameters."""


def read_gsm(path: Path, sample_rate: int) -> np.ndarray:
    """(T,) float32 audio of a headerless GSM 6.10 file (Asterisk's .gsm prompts: frames of 160 samples at
    8 kHz), decoded by FFmpeg's GSM decoder through PyAV; libsndfile reads GSM only inside a WAV or AIFF
    container. FFmpeg decodes any bytes as GSM (a frame without its magic only warns), so the frames are
    checked first: whole, and each with the magic."""
    data = np.fromfile(path, dtype=np.uint8)
    if not len(data) or len(data) % GSM_FRAME_BYTES or np.any(data[::GSM_FRAME_BYTES] >> 4 != GSM_MAGIC):
        raise AudioError(f"not GSM 6.10: expected whole {GSM_FRAME_BYTES}-byte frames that start with 0x{GSM_MAGIC:X}")
    try:
        with av.open(io.BytesIO(data.tobytes()), format="gsm") as container:
            rate = container.streams.audio[0].rate
            frames = list(container.decode(audio=0))
            formats = {frame.format.name for frame in frames}
            if formats != {"s16"}:
                raise AudioError(f"FFmpeg's GSM decoder gave {sorted(formats)} samples, not s16")
            pcm = np.concatenate([frame.to_ndarray() for frame in frames], axis=1)[0]
    except av.FFmpegError as error:
        raise AudioError(f"not decodable as GSM 6.10: {error}") from error
    audio = pcm.astype(np.float32) / 32768.0
    return audio if rate == sample_rate else soxr.resample(audio, rate, sample_rate).astype(np.float32)


def decode_file(path: Path, sample_rate: int) -> np.ndarray:
    """(T,) float32 audio of any corpus file, resampled to sample_rate."""
    return read_gsm(path, sample_rate) if path.suffix.lower() == ".gsm" else read_audio(path, sample_rate)


def is_heldout(relative_path: str) -> bool:
    return int(hashlib.sha1(relative_path.encode()).hexdigest(), 16) % 10 == 0


@dataclass
class Split:
    """One memory-mapped split: PCM of all files back to back, and where each file starts and ends."""

    pcm: np.ndarray  # int16 (N,), PCM_SCALE = full scale
    starts: np.ndarray  # int64 (files,)
    ends: np.ndarray  # int64 (files,)
    files: list[str]

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    def select(self, voices: set[str], keep: bool = True) -> Split:
        """The files of these voices (the first folder of a file's name), or with keep=False all others:
        leave-one-voice-out training and evaluation."""
        chosen = [i for i, f in enumerate(self.files) if (f.split("/", 1)[0] in voices) == keep]
        if not chosen:
            raise ValueError(f"no files {'of' if keep else 'outside'} voices {sorted(voices)}")
        return Split(self.pcm, self.starts[chosen], self.ends[chosen], [self.files[i] for i in chosen])

    def file_audio(self, i: int) -> np.ndarray:
        """(T,) float32 audio of file i in [-1, 1]."""
        return self.pcm[self.starts[i]: self.ends[i]].astype(np.float32) / PCM_SCALE

    def random_crops(self, rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(batch, length) float32 crops and (batch,) int64 counts of leading padding. A file is chosen in
        proportion to its length (so every sample is equally likely); crops reaching before a file's start
        are left-padded with zeros, and the count says where the file begins in the row."""
        lengths = self.lengths
        files = rng.choice(len(lengths), size=batch, p=lengths / lengths.sum())
        ends = rng.integers(1, lengths[files] + 1)
        out = np.zeros((batch, length), dtype=np.float32)
        padding = np.zeros(batch, dtype=np.int64)
        for row, (f, end) in enumerate(zip(files, ends, strict=True)):
            start = max(0, end - length)
            piece = self.pcm[self.starts[f] + start: self.starts[f] + end]
            padding[row] = length - len(piece)
            out[row, padding[row]:] = piece / PCM_SCALE
        return out, padding


def build_corpus(roots: list[Path], cache: Path, sample_rate: int) -> dict:
    """Decode, resample and store as 16-bit PCM every file under `roots` into `cache` (reused when
    unchanged)."""
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
    handles = {name: open(cache / f"{name}.i16.tmp", "wb") for name in splits}
    skipped = []
    try:
        for root, path in tqdm(entries, desc="building corpus", unit="file"):
            relative = path.relative_to(root).as_posix()
            try:
                pcm = np.round(decode_file(path, sample_rate) * PCM_SCALE).astype(np.int16)
            except AudioError as error:
                skipped.append(f"{path}: {error}")
                continue
            name = "heldout" if is_heldout(relative) else "train"
            handles[name].write(pcm.tobytes())
            splits[name]["files"].append(f"{root.name}/{relative}")
            splits[name]["lengths"].append(len(pcm))
    finally:
        for handle in handles.values():
            handle.close()
    for name in splits:
        (cache / f"{name}.i16.tmp").replace(cache / f"{name}.i16")
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
    pcm = np.memmap(cache / f"{name}.i16", dtype=np.int16, mode="r")
    ends = np.cumsum(lengths)
    return Split(pcm=pcm, starts=ends - lengths, ends=ends, files=split["files"])
