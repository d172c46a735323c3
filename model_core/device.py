"""Where the model runs, and on how many cores: one rule each for the CLI, training and the service."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def resolve_device(name: str) -> torch.device:
    """'auto' is the first CUDA GPU when there is one, else the CPU; anything else is torch's own name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def usable_cores(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container's or a
    pod's CPU limit: without the static CPU manager a pod sees every core of its node but gets its quota)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))
