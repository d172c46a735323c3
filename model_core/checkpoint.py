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
from safetensors.torch import load, save_file

from model_core.config import WaveNetConfig
from model_core.model import WaveNet

SHIPPED_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "wavenet-default.safetensors"
"""The shipped model in a source checkout. An installed package has no weights/: there WAVENET_CHECKPOINT
(which the Docker image sets) or an explicit path says where the model is."""
FORMAT = "wavenet-service-checkpoint"
FORMAT_VERSION = 1
CODE_VERSION = "0.1.0"
MAX_HEADER_BYTES = 100_000_000


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not match the model it describes."""


def resolve_checkpoint(argument: str | os.PathLike[str] | None = None) -> Path:
    """The one rule every command and the service use: the argument, else WAVENET_CHECKPOINT, else the
    shipped model of a source checkout."""
    if argument:
        return Path(argument)
    if os.environ.get("WAVENET_CHECKPOINT"):
        return Path(os.environ["WAVENET_CHECKPOINT"])
    if SHIPPED_CHECKPOINT.is_file():
        return SHIPPED_CHECKPOINT
    raise CheckpointError("no checkpoint: pass --checkpoint PATH or set WAVENET_CHECKPOINT (an installed "
                          "package does not include the repository's weights/)")


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike[str],
                      header: dict[str, str]) -> Path:
    """Write a safetensors file atomically (temp file + rename: a reader, or a run resumed after a crash,
    never sees a half-written file), readable by other users (a service user must read a checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_checkpoint(model: WaveNet, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> Path:
    """Write model weights + config + metadata (sample rate, data, steps, held-out NLL, ...) atomically."""
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "code_version": CODE_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "metadata": json.dumps({"sample_rate": model.config.sample_rate, **(metadata or {})}),
    }
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    return write_safetensors(tensors, path, header)


def _parse_header(prefix: bytes, file_size: int, path: Path) -> dict[str, str]:
    """The __metadata__ of a safetensors file from its first bytes (at least the 8-byte size and the JSON)."""
    if len(prefix) < 8:
        raise CheckpointError(f"{path} is truncated (no safetensors header)")
    size = int.from_bytes(prefix[:8], "little")
    if size > MAX_HEADER_BYTES or size > file_size - 8 or len(prefix) < 8 + size:
        raise CheckpointError(f"{path} is truncated or not a safetensors file")
    try:
        header = json.loads(prefix[8:8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not a safetensors file: {error}") from error
    return header.get("__metadata__") or {}


def read_safetensors_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The string metadata of any safetensors file (a checkpoint, a training state) without its tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"not found: {path}")
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            f.seek(0)
            prefix = f.read(8 + min(size, MAX_HEADER_BYTES))
        return _parse_header(prefix, path.stat().st_size, path)
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror}") from error


def _check_ours(meta: dict[str, str], path: Path) -> dict[str, str]:
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a wavenet-service checkpoint")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"checkpoint {path} has format version {meta.get('format_version')}; "
                              f"this code reads version {FORMAT_VERSION}")
    return meta


def read_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The JSON header of a checkpoint, validated as ours, without reading the tensors."""
    return _check_ours(read_safetensors_header(path), Path(path))


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu"
                    ) -> tuple[WaveNet, dict[str, Any]]:
    """Rebuild the model from its saved config and load the weights -> (model in eval mode, metadata).

    The file is read once: the metadata returned carries its sha256 (what /info and the metrics report)
    and the code version that wrote it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror}") from error
    meta = _check_ours(_parse_header(data, len(data), path), path)
    try:
        config = WaveNetConfig.from_dict(json.loads(meta["config"]))
        metadata = json.loads(meta.get("metadata", "{}"))
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} has an invalid config: {error}") from error
    try:
        tensors = load(data)
    except (SafetensorError, ValueError) as error:
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
    metadata["sha256"] = hashlib.sha256(data).hexdigest()
    return model.to(device).eval(), metadata
