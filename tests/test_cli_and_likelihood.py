import copy
import json
import math

import numpy as np
import soundfile
import torch
import torch.nn.functional as F

from model_core import save_checkpoint
from model_core.inference.likelihood import bits_per_sample, sample_nll
from wavenet.cli import main

from .conftest import SMALL, make_model, vowel
from .float_tolerance import EPS32, exact_logits, float32_tolerance


def test_chunked_scoring_equals_one_pass():
    """Chunks overlapping by the receptive field give every prediction its whole context.

    A target's NLL, logsumexp(z) - z_y, moves by at most 2 max|dz| when its logits z move by dz. So with the
    float32 model, chunked and one-pass NLLs lie within twice the logits' float32 tolerance
    (tests/float_tolerance.py) of the exact (float64) NLL, plus the float32 cross-entropy's own rounding
    (a few ulps of its operands, <= 2 max|z|). That bound is too wide to see a context one sample short (the
    oldest sample barely moves this model's logits), so the float64 copy of the model checks it sharply: its
    chunked and one-pass logits agree to ~1e-13 before sample_nll rounds them to float32, so the NLLs differ
    by rounding alone, at most 8 EPS32 max|z| (a one-sample-short context: 110 times that)."""
    model = make_model()
    codes = np.random.default_rng(1).integers(0, 256, 500)
    targets = torch.from_numpy(codes[1:])
    logits = exact_logits(model, torch.from_numpy(codes)[None])[0, :, :-1].t()
    scale = float(logits.abs().max())
    exact = F.cross_entropy(logits, targets, reduction="none").numpy()
    with torch.no_grad():
        one_pass = F.cross_entropy(model(torch.from_numpy(codes)[None])[0, :, :-1].t(), targets,
                                   reduction="none").double().numpy()
    chunked = sample_nll(model, codes, chunk=37)
    assert chunked.shape == (499,)
    tolerance = 2 * float32_tolerance(SMALL, scale) + 8 * EPS32 * scale
    assert np.abs(chunked - exact).max() <= tolerance and np.abs(one_pass - exact).max() <= tolerance
    model64 = copy.deepcopy(model).double()
    assert np.abs(sample_nll(model64, codes, chunk=37) - sample_nll(model64, codes)).max() <= 8 * EPS32 * scale


def test_uniform_model_scores_eight_bits():
    """Zeroed output weights make every logit exactly 0 whatever the summation order, so the only rounding
    is float32's log(256) in the cross-entropy: allow 4 ulps of the result's relative spacing."""
    model = make_model()
    with torch.no_grad():
        for p in model.head_out.parameters():
            p.zero_()
    assert abs(bits_per_sample(sample_nll(model, np.arange(300) % 256)) - 8.0) <= 8.0 * 4 * EPS32


def test_cli_generate_and_likelihood(tmp_path, capsys):
    checkpoint = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    seed = tmp_path / "seed.wav"
    soundfile.write(seed, vowel(0.2, 16000), 16000)
    out = tmp_path / "out.wav"
    main(["generate", "--checkpoint", str(checkpoint), "--seed", str(seed), "--duration", "0.05",
          "--random-seed", "3", "--out", str(out)])
    audio, rate = soundfile.read(out)
    assert rate == 8000 and len(audio) == 400
    first = out.read_bytes()
    main(["generate", "--checkpoint", str(checkpoint), "--seed", str(seed), "--duration", "0.05",
          "--random-seed", "3", "--out", str(out)])
    assert out.read_bytes() == first
    main(["likelihood", "--checkpoint", str(checkpoint), str(seed)])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["samples"] == 1599 and math.isfinite(line["bits_per_sample"]) and line["bits_per_sample"] > 0


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    checkpoint = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"garbage" * 20)
    try:
        main(["likelihood", "--checkpoint", str(checkpoint), str(bad)])
    except SystemExit as exit_:
        assert "not a readable audio file" in str(exit_.code)
    else:
        raise AssertionError("expected a clean exit")
