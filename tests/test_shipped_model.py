"""The shipped checkpoint is a real speech model: it loads, beats classical coders on held-out speech, and
continues a held-out seed with speech-like audio (not silence, not noise)."""

from pathlib import Path

import numpy as np
import pytest

from model_core import load_checkpoint, mu_law_decode
from model_core.audio_io import read_audio
from model_core.checkpoint import SHIPPED_CHECKPOINT
from model_core.front_end import encode_input
from model_core.inference.draws import StreamParams
from model_core.inference.generate import generate
from model_core.inference.likelihood import bits_per_sample, sample_nll
from training.baselines import lpc_laplace_bits, markov_bits

SEED = Path(__file__).parent / "data" / "heldout_seed.wav"


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED_CHECKPOINT)


@pytest.fixture(scope="module")
def seed_codes(shipped):
    model, _ = shipped
    return encode_input(read_audio(SEED, model.config.sample_rate), model.config)


def spectral_flatness(audio: np.ndarray, frame: int = 256) -> float:
    """Mean over frames of geometric / arithmetic mean of the power spectrum (1 = white)."""
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame) * np.hanning(frame)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    return float(np.mean(np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)))


def rms_db(audio: np.ndarray) -> float:
    return 10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-12)


def test_the_card_and_the_metadata_agree_on_the_training(shipped):
    model, metadata = shipped
    assert metadata["steps"] > 0 and metadata["heldout_nll_bits"] < 8
    assert "asterisk" in metadata["training_data"].lower()
    card = (Path(SHIPPED_CHECKPOINT).parent / "MODEL_CARD.md").read_text()
    assert "CC-BY-SA-3.0" in card and str(model.config.receptive_field) in card


def test_beats_classical_coders_on_held_out_speech(shipped, seed_codes):
    model, _ = shipped
    ours = bits_per_sample(sample_nll(model, seed_codes))
    assert ours < min(lpc_laplace_bits([seed_codes]), markov_bits([seed_codes])) - 0.3


def test_continuation_sounds_like_speech_continuing(shipped, seed_codes):
    """Speech-like (far from white), at the seed's level, without an offset, judged on statistics of 48
    continuations and never on one alone. One 2 s continuation is a coin flip: over 200 of the shipped
    model's (random seeds 0-199) levels ran -6.3 to +10.1 dB against the seed (5.0% beyond 6 dB) and
    flatness up to 0.51 of white (earlier defaults: up to -11.7 to +14.0 dB, 7.5%, 0.55).
    And a random seed does not pin the draws across machines: the native kernel is built with -march=native
    -ffast-math, so another CPU rounds differently and a draw near a CDF boundary goes the other way (the
    torch and native kernels part ways in 6 of an earlier default's first 24 continuations of this seed).
    So the bounds hold for any 48 draws, not only for the ones this CPU makes: each sits many standard
    errors outside the measured spread and inside what a broken model does (white noise is 1, a
    continuation that dies out is below -30 dB; logits scaled by 0.6 or 1.6 or shifted by three codes fail,
    checked). `pytest -s` prints the figures."""
    model, _ = shipped
    rate = model.config.sample_rate
    seed = mu_law_decode(seed_codes)
    white = spectral_flatness(np.random.default_rng(0).standard_normal(2 * rate))
    continuations = [mu_law_decode(generate(model, seed_codes, 2 * rate, StreamParams(1.0, random_seed)))
                     for random_seed in range(48)]
    levels = np.array([rms_db(continuation) - rms_db(seed) for continuation in continuations])
    flatness = np.array([spectral_flatness(continuation) / white for continuation in continuations])
    offset = np.concatenate(continuations).mean()
    print(f"levels against the seed: {levels.min():+.1f} to {levels.max():+.1f} dB, mean {levels.mean():+.2f} dB; "
          f"flatness of white: mean {flatness.mean():.2f}, max {flatness.max():.2f}; mean of all 96 s {offset:+.1e}")
    # The target. Means of 48 measured -1.4 to -0.5 dB (eight sets, four models, two kernel builds),
    # standard error about 0.5 dB.
    assert abs(levels.mean()) < 3
    assert np.all(np.abs(levels) < 20)
    # Means of 48 measured 0.27-0.30 (standard error about 0.01); the worst single one seen 0.61 (on
    # another seed).
    assert flatness.mean() < 0.4 and flatness.max() < 0.75
    # DC-free, as the front end makes its input. The mean of one 2 s continuation of speech wanders (up to
    # 1.2e-2 in 200, standard deviation 1.2e-3), the mean of 96 s stays near 1e-4 (eight sets: 6.5e-5 to
    # 2.2e-4; standard error about 1.8e-4), so 1e-3 sits far above chance and 50 times below the offset
    # (0.05) the issue started from.
    assert abs(offset) < 1e-3


def test_the_shipped_checkpoint_records_its_front_end(shipped):
    model, metadata = shipped
    assert model.config.highpass_hz == 20.0
    assert "speed eq gain noise hum rumble dc" in metadata["augmentation"]
