"""A corpus of hostile uploads, made on the fly: decompression bombs, lying headers, absurd rates and channel
counts, non-finite samples, truncated and corrupt files of every accepted container, and things that are
not audio at all. Each entry is (bytes, content type); every one must get a 4xx JSON answer."""

from __future__ import annotations

import functools
import io
import struct

import numpy as np
import soundfile


def encoded(audio: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def wav_by_hand(channels: int, rate: int, frames: int, bits: int = 16, declared_bytes: int | None = None) -> bytes:
    """A PCM WAV whose header says whatever we like; the data are zeros."""
    block = channels * bits // 8
    data = bytes(block * frames)
    size = len(data) if declared_bytes is None else declared_bytes
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return (b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + data)


def flac_with_total_samples(flac: bytes, total: int) -> bytes:
    """Rewrites STREAMINFO's 36-bit total-samples field (0 means unknown): bytes 21-25 of the file."""
    assert flac[:4] == b"fLaC" and flac[4] & 0x7F == 0
    out = bytearray(flac)
    out[21] = (out[21] & 0xF0) | ((total >> 32) & 0x0F)
    out[22:26] = (total & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(out)


@functools.cache
def silence_bomb() -> bytes:
    """20 minutes of 48 kHz silence as FLAC: about 0.2 MB that decode to 57.6 M samples (230 MB float32)."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", 48_000, 1, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros(1 << 20, np.int16)
        for _ in range(1200 * 48_000 // len(block)):
            f.write(block)
    return buffer.getvalue()


def _corrupt(data: bytes, start_fraction: float = 0.4) -> bytes:
    rng = np.random.default_rng(1)
    out = bytearray(data)
    start = int(len(out) * start_fraction)
    out[start:start + 256] = rng.integers(0, 256, min(256, len(out) - start), dtype=np.uint8).tobytes()
    return bytes(out)


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@functools.cache
def hostile_corpus() -> dict[str, tuple[bytes, str]]:
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 16_000).astype(np.float32)
    flac, ogg = encoded(noise, 8000, "FLAC"), encoded(noise, 8000, "OGG", "VORBIS")
    wav = encoded(noise, 8000, "WAV", "PCM_16")
    nan = noise.copy()
    nan[100] = np.nan
    inf = noise.copy()
    inf[5] = np.inf
    return {
        "flac_silence_bomb_20min_48k": (silence_bomb(), "audio/flac"),
        "flac_header_claims_2^35_samples": (flac_with_total_samples(encoded(noise[:1000], 8000, "FLAC"), 2**35),
                                            "audio/flac"),
        "flac_bomb_with_unknown_length": (flac_with_total_samples(silence_bomb(), 0), "audio/flac"),
        "wav_1_hz_20000_frames": (wav_by_hand(1, 1, 20_000), "audio/wav"),
        "wav_384001_hz": (wav_by_hand(1, 384_001, 1000), "audio/wav"),
        "wav_65535_channels": (wav_by_hand(65_535, 8000, 2), "audio/wav"),
        "wav_header_claims_4gb_data": (wav_by_hand(1, 8000, 8000 * 5, declared_bytes=0xFFFFFFF0), "audio/wav"),
        "wav_nan_float": (encoded(nan, 8000, "WAV", "FLOAT"), "audio/wav"),
        "wav_inf_float": (encoded(inf, 8000, "WAV", "FLOAT"), "audio/wav"),
        "wav_truncated": (wav[: len(wav) // 2], "audio/wav"),
        "wav_corrupt_header": (b"RIFF\xff\xff\xff\xffWAVEfmt " + bytes(range(200)), "audio/wav"),
        "flac_truncated": (flac[: len(flac) * 6 // 10], "audio/flac"),
        "flac_corrupt": (_corrupt(flac), "audio/flac"),
        "ogg_truncated": (ogg[: len(ogg) * 6 // 10], "audio/ogg"),
        "ogg_corrupt": (_corrupt(ogg), "audio/ogg"),
        "mp3_over_the_seed_limit": (encoded(np.zeros(8000 * 40, np.float32), 8000, "MP3"), "audio/mpeg"),
        "aiff_1_hz": (encoded(np.zeros(2000, np.float32), 1, "AIFF", "PCM_16"), "audio/aiff"),
        "matlab_mat5_audio": (encoded(noise, 8000, "MAT5", "PCM_16"), "application/octet-stream"),
        "text": (b"this is not audio at all\n" * 40, "audio/wav"),
        "png_image": (PNG, "audio/wav"),
        "empty": (b"", "audio/wav"),
    }
