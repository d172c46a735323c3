"""Checkpoints: one safetensors file holding the weights, with the config and metadata as JSON in its header.

Never pickle: torch.load of an untrusted file can run arbitrary code, and a service loads whatever file
its operator points it at. safetensors holds only tensors and strings.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model_core.config import WaveNetConfig
from model_core.model import WaveNet

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "wavenet-default.safetensors"
"""The shipped model, in the repository's weights/ (an installed image sets WAVENET_CHECKPOINT instead)."""
FORMAT = "wavenet-service-checkpoint"
FORMAT_VERSION = 1
CODE_VERSION = "0.1.0"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not match the model it describes."""


def save_checkpoint(model: WaveNet, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> Path:
    """Write model weights + config + metadata (sample rate, data, steps, held-out NLL, ...) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "code_version": CODE_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "metadata": json.dumps({"sample_rate": model.config.sample_rate, **(metadata or {})}),
    }
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    # temp file + rename: a reader never sees a half-written checkpoint.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a service user must be able to read it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The JSON header of a safetensors file, validated as ours, without reading the tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with open(path, "rb") as f:
            size_bytes = f.read(8)
            if len(size_bytes) < 8:
                raise CheckpointError(f"checkpoint {path} is truncated (no safetensors header)")
            size = int.from_bytes(size_bytes, "little")
            if size > 100_000_000 or size > path.stat().st_size - 8:
                raise CheckpointError(f"checkpoint {path} is truncated or not a safetensors file")
            header = json.loads(f.read(size))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"checkpoint {path} is not a safetensors file: {error}") from error
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror}") from error
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a wavenet-service checkpoint")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"checkpoint {path} has format version {meta.get('format_version')}; "
                              f"this code reads version {FORMAT_VERSION}")
    return meta


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu"
                    ) -> tuple[WaveNet, dict[str, Any]]:
    """Rebuild the model from its saved config and load the weights -> (model in eval mode, metadata)."""
    meta = read_header(path)
    try:
        config = WaveNetConfig.from_dict(json.loads(meta["config"]))
        metadata = json.loads(meta.get("metadata", "{}"))
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} has an invalid config: {error}") from error
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {error}") from error
    model = WaveNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not match its config: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"checkpoint {path}: {name} has shape {tuple(tensor.shape)}, "
                                  f"the config needs {tuple(expected[name].shape)}")
    model.load_state_dict(tensors)
    metadata["code_version"] = meta.get("code_version")
    return model.to(device).eval(), metadata


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
