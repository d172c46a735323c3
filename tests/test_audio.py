import io

import numpy as np
import pytest
import soundfile

from model_core import mu_law_encode
from model_core.audio_io import AudioError, AudioTooLong, read_audio
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


@pytest.mark.parametrize("payload,message", [(b"", "empty"),
                                             (b"this is not audio at all" * 10, "not a readable audio file")])
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


@pytest.mark.parametrize("fmt,subtype", [
    ("WAV", "PCM_16"), ("WAV", "ULAW"), ("WAV", "IMA_ADPCM"), ("WAVEX", "FLOAT"), ("RF64", "PCM_24"),
    ("W64", "PCM_16"), ("FLAC", "PCM_24"), ("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", "MPEG_LAYER_III"),
    ("AIFF", "PCM_16"), ("AU", "PCM_16"), ("CAF", "ALAC_16")])
def test_every_documented_format_is_accepted(fmt, subtype):
    """The list in the README (and in audio_io.ACCEPTED_FORMATS): each decodes to the right duration."""
    rate = 48000 if subtype == "OPUS" else 16000
    buffer = io.BytesIO()
    soundfile.write(buffer, vowel(1.0, rate), rate, format=fmt, subtype=subtype)
    out = read_audio(buffer.getvalue(), 8000)
    assert abs(len(out) - 8000) <= 1200  # MP3 and Opus pad with encoder delay
    assert np.abs(out).max() > 0.05


def test_formats_outside_the_list_are_refused_by_name():
    buffer = io.BytesIO()
    soundfile.write(buffer, vowel(0.2, 8000), 8000, format="MAT5", subtype="PCM_16")
    with pytest.raises(AudioError, match="MAT5.*not accepted"):
        read_audio(buffer.getvalue(), 8000)


@pytest.mark.parametrize("rate,ok", [(999, False), (1000, True), (384_000, True), (384_001, False)])
def test_sample_rates_outside_1k_to_384k_are_refused(rate, ok):
    from .hostile_audio import wav_by_hand

    data = wav_by_hand(1, rate, rate // 10)
    if ok:
        assert len(read_audio(data, 8000)) == 800
    else:
        with pytest.raises(AudioError, match="sample rate"):
            read_audio(data, 8000)


def test_more_than_16_channels_are_refused():
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((100, 17), np.float32), 8000, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioError, match="17 channels"):
        read_audio(buffer.getvalue(), 8000)


def test_duration_is_refused_from_the_header_before_decoding():
    """A FLAC whose STREAMINFO claims 2^35 samples: refused at once (soundfile.read would try 128 GiB)."""
    from .hostile_audio import flac_with_total_samples

    buffer = io.BytesIO()
    soundfile.write(buffer, vowel(0.2, 8000), 8000, format="FLAC")
    with pytest.raises(AudioTooLong, match="declares"):
        read_audio(flac_with_total_samples(buffer.getvalue(), 2**35), 8000, max_seconds=30)


def test_a_header_that_hides_its_length_is_stopped_while_decoding():
    """Unknown length in the header (0): decoding stops one block past the limit, memory stays bounded."""
    import tracemalloc

    from .hostile_audio import flac_with_total_samples

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(8000 * 60, np.int16), 8000, format="FLAC")
    data = flac_with_total_samples(buffer.getvalue(), 0)
    tracemalloc.start()
    with pytest.raises(AudioTooLong, match="longer than the limit"):  # found while decoding, not from the header
        read_audio(data, 8000, max_seconds=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # a few blocks, not the 60 s (1.9 MB) nor anything the header claims


def test_streamed_resampling_matches_the_one_shot_length_and_content():
    rate = 44_100
    audio = vowel(3.0, rate)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV", subtype="FLOAT")
    import model_core.audio_io as audio_io

    blocky = audio_io.BLOCK_SAMPLES
    try:
        audio_io.BLOCK_SAMPLES = 4096  # many blocks
        streamed = read_audio(buffer.getvalue(), 8000)
    finally:
        audio_io.BLOCK_SAMPLES = blocky
    whole = read_audio(buffer.getvalue(), 8000)
    assert len(streamed) == len(whole) == 24_000
    assert np.abs(streamed - whole).max() < 1e-4  # soxr's state carries over: only float rounding differs


@pytest.mark.parametrize("name", ["wav_truncated", "ogg_corrupt", "flac_truncated"])
def test_truncated_or_corrupt_files_are_refused_not_shortened(name):
    from .hostile_audio import hostile_corpus

    with pytest.raises(AudioError, match="truncated or corrupt|corrupt"):
        read_audio(hostile_corpus()[name][0], 8000)


def test_a_wav_streamed_from_a_pipe_with_unknown_length_is_accepted():
    """ffmpeg and sox writing to a pipe put 0xFFFFFFFF in the data size: legitimate, not truncated."""
    from .hostile_audio import wav_by_hand

    assert len(read_audio(wav_by_hand(1, 8000, 4000, declared_bytes=0xFFFFFFFF), 8000)) == 4000


def test_a_flac_of_unknown_length_within_the_limit_gets_a_clear_refusal():
    """What an encoder writing to a pipe produces: total samples 0 (libsndfile: SF_COUNT_MAX). soundfile
    cannot read such a file to its end (it seeks after every read); the user is told how to fix it."""
    from .hostile_audio import flac_with_total_samples

    buffer = io.BytesIO()
    soundfile.write(buffer, vowel(2.0, 8000), 8000, format="FLAC")
    with pytest.raises(AudioError, match="does not declare its length"):
        read_audio(flac_with_total_samples(buffer.getvalue(), 0), 8000, max_seconds=5)


def test_decoding_work_is_bounded_across_channels():
    """8 channels at 384 kHz for 2 s: within 5 s, but 6.1 M samples of work against 3.8 M allowed."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((768_000, 8), np.int16), 384_000, format="FLAC")
    with pytest.raises(AudioTooLong, match="8 channels"):
        read_audio(buffer.getvalue(), 8000, max_seconds=5)
