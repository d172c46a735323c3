"""Audio files in: a documented set of formats -> mono float32 at the model's rate (writing: wav_format.py).

soundfile (libsndfile) decodes; soxr resamples with a proper anti-aliasing filter. Bad input becomes an
AudioError with a message fit for an end user, never one that shows internals.

An upload is hostile until proven otherwise: a 1.4 kB FLAC can declare 2^35 samples, a 40 kB WAV at 1 Hz
resamples to 160 M samples, a few hundred kB of compressed silence decode to hundreds of MB. So the header
is read first and the file refused by its declared rate, channels and duration before a sample is decoded;
decoding then runs in blocks of bounded size, stops after `max_seconds` worth of frames whatever the header
said, and resamples block by block, so memory is bounded by the output (max_seconds at the model's rate),
never by what the file claims or contains.
"""

from __future__ import annotations

import io
import os
import re
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

RATE_RANGE = (1_000, 384_000)
"""Accepted source sample rates in Hz: from below telephone speech to the highest studio rate."""
MAX_CHANNELS = 16
"""Up to 16 channels (surround mixes, multitrack field recorders); every channel is decoded to be averaged."""
ACCEPTED_FORMATS = {
    "WAV": "WAV", "WAVEX": "WAV (extensible)", "RF64": "RF64", "W64": "Wave64", "FLAC": "FLAC",
    "OGG": "Ogg Vorbis/Opus", "MP3": "MP3", "AIFF": "AIFF/AIFC", "AU": "AU/SND", "CAF": "CAF",
}
"""Containers accepted (libsndfile decodes more, e.g. MAT5, SD2, PAF; those parsers see little use, so an
upload in them is refused rather than trusted)."""
STREAMING_SIZES = (0, 0xFFFFFFFF)
"""Data sizes that writers to a pipe put in a WAV header when they cannot know the length (ffmpeg, sox)."""
UNKNOWN_FRAMES = 1 << 62
"""libsndfile reports a length it cannot know (a FLAC written to a pipe) as SF_COUNT_MAX: at least this."""
DECODE_SAMPLES_PER_LIMIT_SECOND = 2 * 384_000
"""Decoding work allowed per second of a caller's limit, all channels counted: stereo at the highest rate,
or more channels at lower rates. Bounds the CPU time a small, highly compressible upload can cost."""
BLOCK_SAMPLES = 1 << 18
"""Interleaved samples decoded per block (1 MiB of float32)."""


class AudioError(ValueError):
    """The input is not usable audio: undecodable, empty, of a refused format, or holding NaN/Inf samples."""


class AudioTooLong(AudioError):
    """The audio is longer than the caller's limit (declared by its header, or found while decoding)."""


def accepted_formats_text() -> str:
    return ", ".join(ACCEPTED_FORMATS.values())


def _open(source: str | os.PathLike[str] | bytes | BinaryIO) -> soundfile.SoundFile:
    if isinstance(source, bytes):
        if not source:
            raise AudioError("the audio file is empty (0 bytes)")
        source = io.BytesIO(source)
    try:
        return soundfile.SoundFile(source)
    except soundfile.LibsndfileError as error:
        raise AudioError(f"not a readable audio file ({error.error_string.rstrip('.')}); accepted formats: "
                         f"{accepted_formats_text()}") from error
    except (RuntimeError, TypeError, ValueError) as error:
        raise AudioError(f"not a readable audio file; accepted formats: {accepted_formats_text()}") from error


def _check_header(f: soundfile.SoundFile, max_seconds: float | None) -> None:
    if f.format not in ACCEPTED_FORMATS:
        raise AudioError(f"{f.format_info or f.format} files are not accepted; accepted formats: "
                         f"{accepted_formats_text()}")
    if not RATE_RANGE[0] <= f.samplerate <= RATE_RANGE[1]:
        raise AudioError(f"the file's sample rate is {f.samplerate} Hz; accepted rates are "
                         f"{RATE_RANGE[0]} Hz to {RATE_RANGE[1]} Hz")
    if not 1 <= f.channels <= MAX_CHANNELS:
        raise AudioError(f"the file has {f.channels} channels; at most {MAX_CHANNELS} are accepted")
    if max_seconds is None or f.frames >= UNKNOWN_FRAMES:
        return  # an unknown length is bounded while decoding
    if f.frames > max_seconds * f.samplerate:
        raise AudioTooLong(f"the file declares {f.frames / f.samplerate:.1f} s of audio; the limit is "
                           f"{max_seconds:g} s")
    if f.frames * f.channels > max_seconds * DECODE_SAMPLES_PER_LIMIT_SECOND:
        raise AudioTooLong(f"the file holds {f.frames * f.channels} samples ({f.channels} channels at "
                           f"{f.samplerate} Hz); at most {max_seconds * DECODE_SAMPLES_PER_LIMIT_SECOND:.0f} "
                           f"are decoded for a {max_seconds:g} s limit")


def _damage(f: soundfile.SoundFile) -> str | None:
    """What libsndfile's log says is wrong with a file it nevertheless decodes: a WAV whose data chunk is
    shorter than its header declares (cut short in transfer), an Ogg stream with holes. libsndfile reports
    these only in its log text; without this check such a file would silently become shorter audio."""
    log = f.extra_info
    declared = re.search(r"^data : (\d+) \(should be (\d+)\)", log, re.MULTILINE)
    if declared and int(declared.group(1)) not in STREAMING_SIZES and int(declared.group(2)) < int(declared.group(1)):
        return f"its data chunk declares {declared.group(1)} bytes, only {declared.group(2)} are present"
    if "Corrupted bitstream" in log or "reports a hole" in log:
        return "its Ogg stream has missing or damaged pages"
    return None


def read_audio(source: str | os.PathLike[str] | bytes | BinaryIO, sample_rate: int,
               max_seconds: float | None = None) -> np.ndarray:
    """Decode `source` (a path, bytes or file object) -> (T,) mono float32 in [-1, 1] at `sample_rate`.

    With `max_seconds`, audio longer than that raises AudioTooLong, decided from the header before decoding
    and enforced again while decoding (a header may lie either way)."""
    with _open(source) as f:
        _check_header(f, max_seconds)
        rate, channels = f.samplerate, f.channels
        frame_limit = None if max_seconds is None else int(
            max_seconds * min(rate, DECODE_SAMPLES_PER_LIMIT_SECOND / channels))
        block = max(1, BLOCK_SAMPLES // channels)
        stream = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32",
                                                                      quality="HQ")
        pieces: list[np.ndarray] = []
        decoded = 0
        while True:
            try:
                data = f.read(block, dtype="float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError) as error:
                if f.frames >= UNKNOWN_FRAMES:  # soundfile seeks after each read, which fails at such a file's end
                    raise AudioError("the file does not declare its length (written to a pipe?) and cannot be read "
                                     "to its end: write it to a file, e.g. `ffmpeg -i in.flac out.flac`") from error
                raise AudioError("the audio file is corrupt: decoding failed part way through") from error
            if not len(data):
                break
            decoded += len(data)
            if frame_limit is not None and decoded > frame_limit:
                raise AudioTooLong(f"the audio is longer than the limit of {max_seconds:g} s")
            if not np.isfinite(data).all():
                raise AudioError("the audio holds NaN or infinite sample values")
            mono = data.mean(axis=1) if channels > 1 else data[:, 0]
            pieces.append(mono.copy() if stream is None else stream.resample_chunk(mono))
        if decoded == 0:
            raise AudioError("the audio file holds no samples")
        if decoded < f.frames < UNKNOWN_FRAMES and f.format != "MP3":  # an MP3's frame count is an estimate
            raise AudioError(f"the audio file is truncated or corrupt: its header declares {f.frames} samples, "
                             f"only {decoded} could be decoded")
        damage = _damage(f)
        if damage:
            raise AudioError(f"the audio file is truncated or corrupt: {damage}")
        if stream is not None:
            pieces.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.clip(np.concatenate(pieces), -1.0, 1.0)
