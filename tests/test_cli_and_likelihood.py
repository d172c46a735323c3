import json
import math

import numpy as np
import soundfile
import torch
import torch.nn.functional as F

from model_core import save_checkpoint
from model_core.cli import main
from model_core.likelihood import bits_per_sample, sample_nll

from .conftest import make_model, vowel


def test_chunked_scoring_equals_one_pass():
    model = make_model()
    codes = np.random.default_rng(1).integers(0, 256, 500)
    with torch.no_grad():
        logits = model(torch.from_numpy(codes)[None])[0, :, :-1].t()
    one_pass = F.cross_entropy(logits, torch.from_numpy(codes[1:]), reduction="none").double().numpy()
    chunked = sample_nll(model, codes, chunk=37)
    assert chunked.shape == (499,)
    assert np.allclose(chunked, one_pass, atol=1e-4)
    assert math.isclose(chunked.sum(), one_pass.sum(), rel_tol=1e-6)


def test_uniform_model_scores_eight_bits():
    model = make_model()
    with torch.no_grad():
        for p in model.head_out.parameters():
            p.zero_()
    assert abs(bits_per_sample(sample_nll(model, np.arange(300) % 256)) - 8.0) < 1e-6


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
        assert "could not decode" in str(exit_.code)
    else:
        raise AssertionError("expected a clean exit")
