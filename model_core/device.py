"""Where the model runs: one rule for the CLI, training and the service."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """'auto' is the first CUDA GPU when there is one, else the CPU; anything else is torch's own name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
