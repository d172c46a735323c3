"""Training: data discovery and split, crops, optimisation, exact resume, export, DDP, baselines."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import load_file

from model_core import load_checkpoint
from model_core.audio_io import AudioError
from model_core.checkpoint import save_checkpoint
from model_core.config import PRESETS
from model_core.model import WaveNet
from training.arguments import add_train_arguments
from training.baselines import histogram_bits, lpc_laplace_bits, markov_bits, uniform_bits
from training.corpus import build_corpus, decode_file, discover_audio, is_heldout, load_split, read_gsm
from training.loop import crop_loss, train
from training.run_state import export, truncate_log

from .conftest import vowel


@pytest.fixture(scope="module")
def audio_tree(tmp_path_factory) -> Path:
    """Two 'voices' of harmonic tones at 8 and 16 kHz, in WAV and FLAC, in nested folders."""
    root = tmp_path_factory.mktemp("voices")
    for voice, rate in (("a", 8000), ("b", 16000)):
        for i in range(12):
            folder = root / voice / f"chapter{i % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            suffix = ".flac" if i % 2 else ".wav"
            soundfile.write(folder / f"utt{i}{suffix}", vowel(0.3 + 0.05 * i, rate, pitch=100 + 15 * i), rate)
        held = next(f"extra{k}.wav" for k in range(1000) if is_heldout(f"extra{k}.wav"))
        soundfile.write(root / voice / held, vowel(0.5, rate, pitch=180), rate)
    (root / "a" / "notes.txt").write_text("not audio")
    return root


def test_discovery_finds_audio_files_only_in_stable_order(audio_tree):
    found = discover_audio(audio_tree / "a")
    assert len(found) == 13 and found == sorted(found)
    assert all(p.suffix in (".wav", ".flac") for p in found)


def test_split_rule_is_the_sha1_of_the_relative_path():
    import hashlib

    for name in ("digits/1.wav", "vm-goodbye.wav", "a/b/c.flac"):
        assert is_heldout(name) == (int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0)
    share = np.mean([is_heldout(f"digits/{i}.wav") for i in range(4000)])
    assert 0.08 < share < 0.12


def test_corpus_is_resampled_split_and_cached(audio_tree, tmp_path):
    roots = [audio_tree / "a", audio_tree / "b"]
    index = build_corpus(roots, tmp_path, 8000)
    files = index["splits"]["train"]["files"] + index["splits"]["heldout"]["files"]
    assert len(files) == 26 and len(index["splits"]["heldout"]["files"]) >= 2
    for name in index["splits"]["heldout"]["files"]:
        assert is_heldout(name.split("/", 1)[1])
    # a 16 kHz file of 0.3 s becomes 2400 samples at 8 kHz
    lengths = dict(zip(files, index["splits"]["train"]["lengths"] + index["splits"]["heldout"]["lengths"],
                       strict=True))
    assert abs(lengths["b/chapter0/utt0.wav"] - 2400) <= 2
    mtime = (tmp_path / "train.i16").stat().st_mtime_ns
    build_corpus(roots, tmp_path, 8000)  # unchanged key: reused, not rebuilt
    assert (tmp_path / "train.i16").stat().st_mtime_ns == mtime


GSM_PROMPT = Path(__file__).parent / "data" / "fr_armelle_vm-youhave.gsm"


def test_gsm_prompts_decode_to_160_samples_per_frame_of_speech(tmp_path):
    """Asterisk's .gsm prompts are headerless GSM 6.10: 33-byte frames of 160 samples at 8 kHz."""
    frames = GSM_PROMPT.stat().st_size // 33
    audio = read_gsm(GSM_PROMPT, 8000)
    assert audio.dtype == np.float32 and audio.shape == (frames * 160,)
    assert 0.02 < np.sqrt(np.mean(audio ** 2)) and np.abs(audio).max() <= 1.0  # speech, not silence or noise
    assert abs(len(read_gsm(GSM_PROMPT, 16000)) - 2 * frames * 160) <= 2
    assert np.array_equal(decode_file(GSM_PROMPT, 8000), audio)
    frames = GSM_PROMPT.read_bytes()
    cut, junk, noise = tmp_path / "cut.gsm", tmp_path / "zeros.gsm", tmp_path / "noise.gsm"
    cut.write_bytes(frames[:100])  # three frames and one byte of a fourth
    junk.write_bytes(bytes(len(frames)))  # whole frames without the magic: FFmpeg alone would decode them
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, len(frames), dtype=np.uint8).tobytes())
    for bad in (cut, junk, noise, tmp_path / "empty.gsm"):
        bad.touch()
        with pytest.raises(AudioError, match="not GSM"):
            read_gsm(bad, 8000)


def test_gsm_prompts_join_the_corpus(tmp_path):
    voice = tmp_path / "voice"
    voice.mkdir()
    (voice / "prompt.gsm").write_bytes(GSM_PROMPT.read_bytes())
    (voice / "broken.gsm").write_bytes(b"\x00" * 10)
    index = build_corpus([voice], tmp_path / "cache", 8000)
    lengths = index["splits"]["train"]["lengths"] + index["splits"]["heldout"]["lengths"]
    assert lengths == [len(read_gsm(GSM_PROMPT, 8000))]
    assert len(index["skipped"]) == 1 and "broken.gsm" in index["skipped"][0]


def test_random_crops_come_from_one_file_with_silence_before_its_start(audio_tree, tmp_path):
    build_corpus([audio_tree / "a"], tmp_path, 8000)
    split = load_split(tmp_path, "train")
    crops, padding = split.random_crops(np.random.default_rng(0), 64, 8000)  # longer than any file
    assert crops.shape == (64, 8000) and crops.dtype == np.float32
    assert (padding > 0).all() and (crops[:, 0] == 0.0).all()
    files = [split.file_audio(i) for i in range(len(split.files))]
    for row, pad in zip(crops[:8], padding[:8], strict=True):
        assert not row[:pad].any()
        assert any(np.array_equal(row[pad:], f[: 8000 - pad]) for f in files)


def test_one_optimisation_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = WaveNet(PRESETS["tiny"])
    batch = torch.from_numpy(np.tile(np.arange(0, 256, 4), (2, 8)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = crop_loss(model, batch, 256)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        assert crop_loss(model, batch, 256) < before


def _args(tmp_path, audio_tree, run, *extra):
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(["--data", str(audio_tree / "a"), str(audio_tree / "b"), "--cache",
                              str(tmp_path / "cache"), "--run-dir", str(tmp_path / run), "--preset", "tiny",
                              "--steps", "6", "--batch-size", "2", "--target-length", "64",
                              "--eval-every", "3", "--eval-seconds", "0.5", "--checkpoint-every", "100",
                              "--sample-seconds", "0.01", "--warmup", "2", "--threads", "1", *extra])


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, audio_tree):
    whole = train(_args(tmp_path, audio_tree, "whole"))
    train(_args(tmp_path, audio_tree, "staged", "--stop-after", "4"))
    with (tmp_path / "staged" / "log.csv").open("a") as log:  # an attempt killed before its next checkpoint
        log.write("5,0.001,9.0,,1,1.0\n6,0.001,9.0,,1,2.0\n7,0.0")
    staged = train(_args(tmp_path, audio_tree, "staged", "--resume"))
    a, b = load_file(whole), load_file(staged)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (tmp_path / "whole" / "curves.png").stat().st_size > 1000
    assert list((tmp_path / "whole" / "samples").glob("step-6.wav"))
    log = (tmp_path / "whole" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) == 7
    steps = [line.split(",")[0] for line in (tmp_path / "staged" / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4", "5", "6"]
    train(_args(tmp_path, audio_tree, "whole"))  # a new run in an old folder: a new log, not appended to
    assert len((tmp_path / "whole" / "log.csv").read_text().splitlines()) == 7


def test_tensorboard_logs_when_it_is_installed(tmp_path, audio_tree):
    pytest.importorskip("tensorboard")
    train(_args(tmp_path, audio_tree, "board"))
    assert list((tmp_path / "board" / "tensorboard").glob("events.out.tfevents.*"))


def test_export_writes_a_loadable_checkpoint_with_metadata(tmp_path, audio_tree):
    train(_args(tmp_path, audio_tree, "run"))
    path = export(tmp_path / "run", tmp_path / "model.safetensors", "synthetic tones")
    model, metadata = load_checkpoint(path)
    assert model.config == PRESETS["tiny"]
    assert metadata["steps"] == 6 and metadata["training_data"] == "synthetic tones"
    assert 0 < metadata["heldout_nll_bits"] < 9


def test_export_can_average_the_run_with_another_checkpoint(tmp_path, audio_tree):
    train(_args(tmp_path, audio_tree, "run"))
    pure = export(tmp_path / "run", tmp_path / "pure.safetensors")
    torch.manual_seed(1)
    other = save_checkpoint(WaveNet(PRESETS["tiny"]), tmp_path / "other.safetensors")
    mixed = export(tmp_path / "run", tmp_path / "mixed.safetensors", mix_with=other, mix_weight=0.7)
    (a, _), (b, _), (m, metadata) = (load_checkpoint(p) for p in (pure, other, mixed))
    for x, y, z in zip(a.parameters(), b.parameters(), m.parameters(), strict=True):
        assert torch.allclose(z, 0.7 * x + 0.3 * y, atol=1e-6)
    assert metadata["weights"].startswith("0.7 x EMA + 0.3 x other.safetensors (sha256 ")
    with pytest.raises(ValueError, match="architecture"):
        export(tmp_path / "run", tmp_path / "bad.safetensors",
               mix_with=save_checkpoint(WaveNet(PRESETS["default"]), tmp_path / "default.safetensors"))


def test_distributed_data_parallel_with_two_gloo_processes(tmp_path, audio_tree):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
               "-m", "wavenet.cli", "train", "--data", str(audio_tree / "a"), "--cache", str(tmp_path / "c"),
               "--run-dir", str(tmp_path / "ddp"), "--preset", "tiny", "--steps", "3", "--batch-size", "2",
               "--target-length", "64", "--eval-every", "3", "--eval-seconds", "0.2", "--sample-seconds",
               "0.01", "--threads", "1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "ddp" / "state.safetensors").exists()
    assert len((tmp_path / "ddp" / "log.csv").read_text().splitlines()) == 4


def test_baselines_give_known_answers_on_synthetic_signals():
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, 40_000)]
    assert uniform_bits(noise) == 8.0
    assert abs(histogram_bits(noise) - 8.0) < 0.01
    constant = [np.full(20_000, 77)]
    assert histogram_bits(constant) == 0.0
    assert markov_bits(constant) < 0.01
    alternating = [np.tile([10, 200, 10, 30], 10_000)]  # deterministic given the last two codes
    assert abs(histogram_bits(alternating) - 1.5) < 1e-3
    assert markov_bits(alternating) < 0.05
    assert markov_bits(noise) > 7.9  # no structure to find
    t = np.arange(40_000)
    from model_core.mu_law import mu_law_encode

    sine = [mu_law_encode(0.5 * np.sin(2 * np.pi * 300 * t / 8000))]
    assert lpc_laplace_bits(sine) < 3.0 < histogram_bits(sine)


def test_a_run_can_start_from_a_shallower_checkpoint(tmp_path, audio_tree, capsys):
    torch.manual_seed(2)
    source = save_checkpoint(WaveNet(PRESETS["tiny"]), tmp_path / "source.safetensors")
    train(_args(tmp_path, audio_tree, "grown", "--init-from", str(source), "--stacks", "2"))
    assert f"grown from {source}: 5 new layers start as identities" in capsys.readouterr().out
    model, metadata = load_checkpoint(export(tmp_path / "grown", tmp_path / "grown.safetensors"))
    source_sha = load_checkpoint(source)[1]["sha256"]
    assert model.config.stacks == 2
    assert metadata["initialised_from"] == f"source.safetensors (sha256 {source_sha[:12]}...)"


def test_truncating_the_log_drops_later_rows_and_a_row_cut_short(tmp_path):
    log = tmp_path / "log.csv"
    rows = "".join(f"{step},0.001,4.0,,1,{step}.0\n" for step in range(1, 13))
    log.write_text("step,lr,train_bits,heldout_bits,samples_per_s,elapsed_s\n" + rows + "1")  # "13,..." cut
    truncate_log(log, 10)
    assert [line.split(",")[0] for line in log.read_text().splitlines()[1:]] == [str(s) for s in range(1, 11)]
