"""A training run's folder: the resumable state, the learning curves, and the checkpoint exported from it.

Run folder contents: state.safetensors (+ JSON header: resume state without pickle), log.csv,
curves.png, samples/step-N.wav, and TensorBoard events when tensorboard is installed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from model_core.checkpoint import load_checkpoint, read_safetensors_header, save_checkpoint, write_safetensors
from model_core.config import WaveNetConfig
from model_core.model import WaveNet


class TrainState:
    """Everything --resume needs, stored as safetensors tensors plus a JSON header (no pickle)."""

    @staticmethod
    def save(path: Path, model: WaveNet, ema: WaveNet, optimizer: torch.optim.Optimizer, step: int,
             rng: np.random.Generator, extra: dict) -> None:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
        opt = optimizer.state_dict()
        for index, state in opt["state"].items():
            for key, value in state.items():
                tensors[f"opt.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        tensors["torch_rng"] = torch.get_rng_state()
        header = {"step": str(step), "config": json.dumps(model.config.to_dict()),
                  "param_groups": json.dumps(opt["param_groups"]),
                  "numpy_rng": json.dumps(rng.bit_generator.state), "extra": json.dumps(extra)}
        write_safetensors(tensors, path, header)  # atomic: an interrupted save leaves the previous state intact

    @staticmethod
    def load(path: Path, model: WaveNet, ema: WaveNet, optimizer: torch.optim.Optimizer,
             rng: np.random.Generator) -> tuple[int, dict]:
        header = read_safetensors_header(path)
        tensors = load_file(str(path))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(header["param_groups"])})
        torch.set_rng_state(tensors["torch_rng"])
        rng.bit_generator.state = json.loads(header["numpy_rng"])
        return int(header["step"]), json.loads(header["extra"])


def truncate_log(log_path: Path, step: int) -> None:
    """Drop the rows after `step`: a run killed between checkpoints logged steps that its resumed run
    trains again, and the curves would hold both. A row cut short by the kill goes too."""
    lines = log_path.read_text().splitlines(keepends=True)
    if not lines:
        return
    columns = lines[0].count(",")
    kept = [lines[0]] + [line for line in lines[1:] if line.endswith("\n") and line.count(",") == columns
                         and int(line.split(",", 1)[0]) <= step]
    if len(kept) < len(lines):
        log_path.write_text("".join(kept))


def plot_curves(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_path.open()))
    train = [(int(r["step"]), float(r["train_bits"])) for r in rows if r["train_bits"]]
    valid = [(int(r["step"]), float(r["heldout_bits"])) for r in rows if r["heldout_bits"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        steps, bits = (np.asarray(column) for column in zip(*train, strict=True))
        ax.plot(steps, bits, color="tab:blue", alpha=0.2, linewidth=0.5)
        # One step's loss is one batch of crops (noisy, more so with augmentation): the trend is its
        # running mean over about a fiftieth of the run.
        window = max(1, len(bits) // 50)
        trend = np.convolve(bits, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], trend, color="tab:blue", label=f"train, mean of {window} steps")
    if valid:
        ax.plot(*zip(*valid, strict=True), "o-", color="tab:orange", label="held-out, EMA weights")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per sample")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def export(run: Path, out: Path, data_description: str | None = None, heldout_bits: float | None = None,
           mix_with: Path | None = None, mix_weight: float = 1.0) -> Path:
    """Write the run's EMA weights as a model_core checkpoint with training metadata.

    With `mix_with`, the weights are mix_weight * EMA + (1 - mix_weight) * that checkpoint's (same
    architecture): a point on the line between a fine-tune and its starting point ("model soups", Wortsman
    et al., 2022), which stays in one basin because one was trained from the other."""
    state_path = run / "state.safetensors"
    header = read_safetensors_header(state_path)
    config = WaveNetConfig.from_dict(json.loads(header["config"]))
    model = WaveNet(config)
    model.load_state_dict({k[4:]: v for k, v in load_file(str(state_path)).items() if k.startswith("ema.")})
    weights = "EMA"
    if mix_with is not None:
        if not 0.0 <= mix_weight <= 1.0:
            raise ValueError("mix_weight must be in [0, 1]")
        other, other_metadata = load_checkpoint(mix_with)
        if other.config != config:
            raise ValueError(f"{mix_with} has another architecture than the run")
        with torch.no_grad():
            for mine, theirs in zip(model.parameters(), other.parameters(), strict=True):
                mine.mul_(mix_weight).add_(theirs, alpha=1.0 - mix_weight)
        weights = (f"{mix_weight:g} x EMA + {1.0 - mix_weight:g} x {Path(mix_with).name} "
                   f"(sha256 {other_metadata['sha256'][:12]}...)")
    extra = json.loads(header["extra"])
    metadata = {"augmentation": extra.get("augmentation", "none"), "initialised_from": extra.get("init_from"),
                "excluded_voices": extra.get("excluded_voices"),
                "steps": int(header["step"]), "train_seconds": round(extra["train_seconds"], 1),
                "heldout_nll_bits": extra["heldout_bits"] if heldout_bits is None else heldout_bits,
                "weights": weights,
                "training_data": data_description or extra.get("data", "unknown")}
    return save_checkpoint(model, out, metadata)
