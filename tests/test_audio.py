import io

import numpy as np
import pytest
import soundfile

from model_core import mu_law_encode
from model_core.audio_io import AudioError, read_audio
from model_core.wav_format import CODES_OF_MULAW_BYTE, wav_bytes, wav_header

from .conftest import vowel


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("WAV", "PCM_U8")])
def test_reads_any_format_rate_and_channels_as_mono_at_model_rate(fmt, subtype):
    audio = vowel(0.5, 16000)
    stereo = np.stack([audio, audio], axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, stereo, 16000, format=fmt, subtype=subtype)
    out = read_audio(buffer.getvalue(), 8000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 4000) <= 2
    reference = vowel(0.5, 8000)
    n = min(len(out), len(reference)) - 200
    assert np.corrcoef(out[100:n], reference[100:n])[0, 1] > 0.95


@pytest.mark.parametrize("payload,message", [(b"", "empty"), (b"this is not audio at all" * 10, "decode")])
def test_bad_bytes_are_rejected_clearly(payload, message):
    with pytest.raises(AudioError, match=message):
        read_audio(payload, 8000)


def test_zero_length_audio_is_rejected():
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(0, np.float32), 8000, format="WAV")
    with pytest.raises(AudioError, match="no samples"):
        read_audio(buffer.getvalue(), 8000)


def test_nan_samples_are_rejected():
    buffer = io.BytesIO()
    soundfile.write(buffer, np.array([0.1, np.nan, 0.2], np.float32), 8000, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        read_audio(buffer.getvalue(), 8000)


@pytest.mark.parametrize("fmt", ["pcm16", "float32", "mulaw"])
@pytest.mark.parametrize("length", [0, 1, 257])
def test_written_wavs_parse_with_exact_sizes(fmt, length):
    codes = np.arange(length) % 256
    data = wav_bytes(codes, 8000, fmt)
    info = soundfile.info(io.BytesIO(data))
    assert info.frames == length and info.samplerate == 8000 and info.channels == 1
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    if length:
        decoded, _ = soundfile.read(io.BytesIO(data), dtype="float64")
        if fmt == "mulaw":  # players decode G.711 within one code step
            assert np.abs(mu_law_encode(decoded) - codes).max() <= 1
        else:
            assert np.array_equal(mu_law_encode(decoded), codes)


def test_mulaw_wav_bytes_carry_the_codes_exactly():
    codes = np.random.default_rng(0).integers(0, 256, 1000)
    data = wav_bytes(codes, 8000, "mulaw")
    payload = np.frombuffer(data[len(wav_header(1000, 8000, "mulaw")):], np.uint8)
    assert np.array_equal(CODES_OF_MULAW_BYTE[payload], codes)


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError):
        wav_header(10, 8000, "mp3")
