"""WAV bytes from mu-law codes: a header with exact sizes, then samples, so a file can be streamed.

Written by hand rather than through libsndfile because a streamed response must send the header before
the samples exist, with the final RIFF and data sizes already in it, and because the 8-bit mu-law format
must carry the model's codes exactly (see `MULAW_BYTES`).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterable, AsyncIterator
from typing import Literal, get_args

import numpy as np

from model_core.mu_law import mu_law_decode

WavFormat = Literal["pcm16", "mulaw", "float32"]
WAV_FORMATS: tuple[str, ...] = get_args(WavFormat)

_FORMAT_TAG = {"pcm16": 1, "float32": 3, "mulaw": 7}
_BYTES_PER_SAMPLE = {"pcm16": 2, "float32": 4, "mulaw": 1}


def _g711_values() -> np.ndarray:
    """The linear value (/32768) of each of the 256 G.711 mu-law bytes (ITU-T G.711 decoding)."""
    inverted = ~np.arange(256) & 0xFF
    exponent, mantissa = (inverted >> 4) & 7, inverted & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(inverted & 0x80, -magnitude, magnitude) / 32768.0


def _mulaw_bytes() -> np.ndarray:
    # G.711 is a piecewise-linear approximation of the same mu = 255 curve; its 256 bytes (with -0 and
    # +0 both present) in order of value map one-to-one onto our 256 codes. A player decodes each code
    # within one code step of our decoder, and the bytes give the codes back exactly.
    values = _g711_values()
    return np.lexsort((np.arange(256) >= 128, values)).astype(np.uint8)


MULAW_BYTES = _mulaw_bytes()
"""MULAW_BYTES[code] is the G.711 byte written for that code."""
CODES_OF_MULAW_BYTE = np.argsort(MULAW_BYTES).astype(np.int64)


def wav_header(num_samples: int, sample_rate: int, fmt: WavFormat) -> bytes:
    """RIFF/WAVE header for `num_samples` mono samples in `fmt`; the data chunk follows it directly."""
    if fmt not in _FORMAT_TAG:
        raise ValueError(f"unknown WAV format {fmt!r}: use one of {WAV_FORMATS}")
    width = _BYTES_PER_SAMPLE[fmt]
    data_size = num_samples * width
    if fmt == "pcm16":
        fmt_chunk = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, sample_rate, sample_rate * width, width, 16)
        fact_chunk = b""
    else:  # non-PCM formats carry cbSize and a fact chunk with the sample count
        fmt_chunk = struct.pack("<4sIHHIIHHH", b"fmt ", 18, _FORMAT_TAG[fmt], 1, sample_rate,
                                sample_rate * width, width, 8 * width, 0)
        fact_chunk = struct.pack("<4sII", b"fact", 4, num_samples)
    pad = data_size % 2  # RIFF chunks are word aligned; the pad byte follows the data
    riff_size = 4 + len(fmt_chunk) + len(fact_chunk) + 8 + data_size + pad
    return (struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE") + fmt_chunk + fact_chunk
            + struct.pack("<4sI", b"data", data_size))


def wav_samples(codes: np.ndarray, fmt: WavFormat) -> bytes:
    """Encode codes as little-endian sample bytes of `fmt` (no header, no pad)."""
    codes = np.asarray(codes, dtype=np.int64)
    if fmt == "mulaw":
        return MULAW_BYTES[codes].tobytes()
    audio = mu_law_decode(codes)
    if fmt == "float32":
        return audio.astype("<f4").tobytes()
    if fmt == "pcm16":
        return np.round(audio * 32767.0).astype("<i2").tobytes()
    raise ValueError(f"unknown WAV format {fmt!r}: use one of {WAV_FORMATS}")


def wav_payload_size(num_samples: int, fmt: WavFormat) -> int:
    """Bytes after the header: the samples and the pad byte, if any (what Content-Length adds to it)."""
    data_size = num_samples * _BYTES_PER_SAMPLE[fmt]
    return data_size + data_size % 2


def wav_trailer(num_samples: int, fmt: WavFormat) -> bytes:
    """The pad byte an odd-sized data chunk needs, or nothing."""
    return b"\x00" * ((num_samples * _BYTES_PER_SAMPLE[fmt]) % 2)


def wav_bytes(codes: np.ndarray, sample_rate: int, fmt: WavFormat = "pcm16") -> bytes:
    """A complete WAV file of `codes`."""
    codes = np.asarray(codes)
    return wav_header(len(codes), sample_rate, fmt) + wav_samples(codes, fmt) + wav_trailer(len(codes), fmt)


async def wav_stream(chunks: AsyncIterable[np.ndarray], num_samples: int, sample_rate: int, fmt: WavFormat,
                     prefix: np.ndarray) -> AsyncIterator[bytes]:
    """A WAV file streamed as its codes arrive: header and `prefix` codes at once, then each chunk of
    `chunks` (num_samples codes in all). Exactly len(header) + wav_payload_size(total) bytes when complete."""
    total = len(prefix) + num_samples
    yield wav_header(total, sample_rate, fmt) + wav_samples(prefix, fmt)
    async for codes in chunks:
        yield wav_samples(codes, fmt)
    yield wav_trailer(total, fmt)
