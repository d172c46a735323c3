"""The checkpoint's input front end (DC blocker), training augmentation, and the robustness evaluation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import freqz

from model_core import WaveNet, load_checkpoint, mu_law_encode, save_checkpoint
from model_core.checkpoint import read_header
from model_core.config import PRESETS, WaveNetConfig
from model_core.front_end import HighPass, dc_blocker, encode_input, prepare_audio
from training.augment import KINDS, Augmenter, coloured_noise, crop_margin, rbj_biquad
from training.corpus import build_corpus, load_split
from training.evaluate import CONDITIONS, evaluate_files, markdown_table

from .conftest import vowel

CONFIG = PRESETS["tiny"]


def test_chunked_front_end_equals_one_pass_exactly():
    audio = np.random.default_rng(0).uniform(-0.9, 0.9, (2, 20_000)) + 0.07
    whole = prepare_audio(audio, CONFIG)
    stateful = HighPass(CONFIG.highpass_hz, CONFIG.sample_rate)
    cuts = [0, 1, 2, 777, 8000, 19_999, 20_000]
    pieces = [stateful.process(audio[:, a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.array_equal(np.concatenate(pieces, axis=1), whole)


def test_the_dc_blocker_removes_offsets_and_keeps_speech_band():
    b, a = dc_blocker(20.0, 8000)
    _, response = freqz(b, a, [0.0, 20.0, 70.0, 300.0, 3999.0], fs=8000)
    gain_db = 20 * np.log10(np.abs(response) + 1e-300)
    assert gain_db[0] < -200  # a zero at DC
    assert -3.5 < gain_db[1] < -2.5  # -3 dB at the cutoff
    assert gain_db[2] > -0.4 and abs(gain_db[3]) < 0.03 and abs(gain_db[4]) < 1e-6
    offset = vowel(1.0, 8000) * 0.3 + 0.06
    cleaned = prepare_audio(offset, CONFIG)
    assert abs(cleaned[800:].mean()) < 1e-3 < abs(offset.mean())  # after 100 ms (12 time constants)


def test_a_checkpoint_without_a_front_end_loads_and_encodes_as_before(tmp_path):
    """Checkpoints saved before the front end existed have no highpass_hz in their config."""
    old = replace(CONFIG, highpass_hz=0.0)
    path = save_checkpoint(WaveNet(old), tmp_path / "old.safetensors")
    config = json.loads(read_header(path)["config"])
    del config["highpass_hz"]
    from safetensors.torch import load_file, save_file

    header = read_header(path)
    save_file(load_file(str(path)), str(path), metadata={**header, "config": json.dumps(config)})
    model, _ = load_checkpoint(path)
    assert model.config.highpass_hz == 0.0
    audio = vowel(0.5, 8000) + 0.05
    assert np.array_equal(encode_input(audio, model.config), mu_law_encode(audio))


def test_highpass_must_be_below_nyquist():
    with pytest.raises(ValueError, match="highpass_hz"):
        WaveNetConfig(highpass_hz=4000.0)


def crops(seed: int = 0, batch: int = 6, length: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    audio = np.stack([vowel(1.0, 8000)[: length + crop_margin(length)] * rng.uniform(0.2, 0.8)
                      for _ in range(batch)]).astype(np.float32)
    padding = np.array([0, 500, 0, 3000, 0, 10][:batch])
    for row, pad in enumerate(padding):
        audio[row, :pad] = 0.0
    return audio, padding


def test_augmentation_is_reproducible_from_the_seed():
    audio, padding = crops()
    augment = Augmenter(KINDS, 8000, probability=0.7)
    first = augment(audio, padding, 3000, np.random.default_rng(42))
    again = augment(audio, padding, 3000, np.random.default_rng(42))
    other = augment(audio, padding, 3000, np.random.default_rng(43))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_the_audio_and_keeps_padding_silent_and_in_range(kind):
    audio, padding = crops()
    out, new_padding = Augmenter((kind,), 8000, probability=1.0)(audio, padding, 3000, np.random.default_rng(0))
    assert out.shape == (6, 3000) and out.dtype == np.float32
    assert np.abs(out).max() <= 1.0
    unchanged = audio[:, -3000:]
    assert all(not np.allclose(out[row], unchanged[row]) for row in range(6) if new_padding[row] < 3000)
    for row, pad in enumerate(new_padding):
        assert not out[row, :pad].any()
    if kind != "speed":
        assert np.array_equal(new_padding, np.maximum(padding - crop_margin(3000), 0))


def test_no_kind_chosen_means_no_change():
    audio, padding = crops()
    out, new_padding = Augmenter((), 8000, probability=1.0)(audio, padding, 3000, np.random.default_rng(0))
    assert np.array_equal(out, audio[:, -3000:])


def test_unknown_kinds_are_refused():
    with pytest.raises(ValueError, match="unknown augmentation"):
        Augmenter(("reverb",), 8000)


def test_coloured_noise_has_the_asked_spectral_slope():
    noise = coloured_noise(np.random.default_rng(0), 3, 1 << 16, np.array([0, 1, 2]))
    power = np.abs(np.fft.rfft(noise, axis=1)) ** 2
    frequency = np.fft.rfftfreq(1 << 16)
    low, high = (frequency > 0.01) & (frequency < 0.02), (frequency > 0.2) & (frequency < 0.4)
    ratio_db = 10 * np.log10(power[:, low].mean(axis=1) / power[:, high].mean(axis=1))
    # White: flat. Pink: 10 dB per decade over ~1.3 decades. Brown: twice that.
    assert abs(ratio_db[0]) < 1 and 10 < ratio_db[1] < 16 and 22 < ratio_db[2] < 30
    assert np.allclose(noise.std(axis=1), 1.0, atol=1e-6)


def test_cookbook_filters_have_their_gain_where_asked():
    for shape, frequency, where in (("low_shelf", 200.0, 1.0), ("high_shelf", 2500.0, 3999.0),
                                    ("peak", 1000.0, 1000.0)):
        b, a = rbj_biquad(shape, frequency, 6.0, 8000)
        _, response = freqz(b, a, [where], fs=8000)
        assert abs(20 * np.log10(abs(response[0])) - 6.0) < 0.05, shape


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import soundfile

    root = tmp_path_factory.mktemp("voices")
    for voice in ("voice_a", "voice_b"):
        (root / voice).mkdir()
        for i in range(12):
            soundfile.write(root / voice / f"{i}.wav", vowel(0.3 + 0.02 * i, 8000) * 0.5, 8000)
    cache = tmp_path_factory.mktemp("cache")
    build_corpus([root / "voice_a", root / "voice_b"], cache, 8000)
    return cache


def test_voices_can_be_left_out_and_selected(corpus):
    split = load_split(corpus, "train")
    without_a = split.select({"voice_a"}, keep=False)
    only_a = split.select({"voice_a"})
    assert {f.split("/")[0] for f in without_a.files} == {"voice_b"}
    assert len(without_a.files) + len(only_a.files) == len(split.files)
    audio, padding = without_a.random_crops(np.random.default_rng(0), 4, 1000)
    assert audio.shape == (4, 1000) and (padding >= 0).all()
    assert np.array_equal(only_a.file_audio(0), split.file_audio(split.files.index(only_a.files[0])))


def test_robustness_evaluation_scores_every_condition_on_the_same_codes(corpus, tmp_path):
    path = save_checkpoint(WaveNet(CONFIG), tmp_path / "m.safetensors")
    result = evaluate_files(path, corpus, max_files=3, conditions=list(CONDITIONS))
    rows = result["conditions"]
    assert list(rows) == list(CONDITIONS)
    for row in rows.values():
        assert row["files"] >= 1 and 0 <= row["share_above_lpc16"] <= 1
        assert row["worst_file"] >= row["model"] - 1e-9 and row["uniform"] == 8.0
    assert rows["speed_0.9"]["samples"] > rows["clean"]["samples"] > rows["speed_1.1"]["samples"]
    assert rows["clean"]["lpc16"] != rows["white_noise_30dB_SNR"]["lpc16"]
    assert "| hum_50Hz_-30dBFS |" in markdown_table(result)
    only = evaluate_files(path, corpus, voices={"voice_b"})
    assert only["voices"] == ["voice_b"] and only["conditions"]["clean"]["files"] >= 1
