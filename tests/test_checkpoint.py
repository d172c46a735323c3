import json

import pytest
import torch

from model_core import CheckpointError, load_checkpoint, save_checkpoint
from model_core.checkpoint import read_header

from .conftest import make_model


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    model = make_model()
    path = save_checkpoint(model, tmp_path / "m.safetensors", {"steps": 12, "heldout_nll_bits": 4.5})
    loaded, metadata = load_checkpoint(path)
    assert loaded.config == model.config
    assert metadata["steps"] == 12 and metadata["heldout_nll_bits"] == 4.5
    assert metadata["sample_rate"] == 8000 and metadata["code_version"]
    codes = torch.randint(0, 256, (1, 30))
    with torch.no_grad():
        assert torch.equal(model(codes), loaded(codes))


def test_missing_file_fails_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file_fails_clearly(tmp_path):
    path = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    for cut in (4, 100, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated|corrupt|not a"):
            load_checkpoint(path)


def test_not_a_checkpoint_fails_clearly(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"RIFF....WAVEfmt " * 10)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_shape_mismatch_fails_clearly(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    header = read_header(path)
    tensors = load_file(path)
    tensors["embed.weight"] = torch.zeros(256, 3)
    save_file(tensors, path, metadata=header)
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)


def test_other_format_version_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    header = {**read_header(path), "format_version": "99"}
    save_file(load_file(path), path, metadata=header)
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(path)
    assert json.loads(header["config"])["residual_channels"] == 8


def test_saved_checkpoints_are_readable_by_other_users(tmp_path):
    path = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    assert path.stat().st_mode & 0o044 == 0o044


def test_unreadable_file_fails_clearly(tmp_path):
    path = save_checkpoint(make_model(), tmp_path / "m.safetensors")
    path.chmod(0)
    try:
        with open(path, "rb"):
            pytest.skip("running as a user who can read anything (root)")
    except PermissionError:
        with pytest.raises(CheckpointError, match="cannot read"):
            load_checkpoint(path)
