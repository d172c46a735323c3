"""Step kernels: one column of every layer for a batch of streams, on the weights laid out by `weights.py`.

Two implementations of one protocol: the compiled C kernel (CPU) and PyTorch operators (any device, and the
reference). The sampler owns the per-stream state and hands it to whichever kernel it was given.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np
import torch

from model_core.inference.kernels.native import NativeKernelUnavailable, NativeStep, native_available
from model_core.inference.kernels.torch_kernel import TorchStep
from model_core.inference.kernels.weights import StepWeights

log = logging.getLogger("wavenet.kernels")
BACKENDS = ("auto", "native", "torch")


class StepKernel(Protocol):
    name: str

    def step(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor, time: int) -> torch.Tensor:
        """codes (B,) int64, gate_bias (B, layers, G), queues (B, Q, R) updated in place -> logits (B, classes)."""

    def sample_steps(self, logits: torch.Tensor, temperatures: np.ndarray, seeds: np.ndarray,
                     counters: np.ndarray, gate_bias: torch.Tensor, queues: torch.Tensor, time: int,
                     steps: int) -> np.ndarray:
        """`steps` rounds of: draw each row's code from logits (n, classes) with counter_uniform(seed, counter),
        step. logits and counters (n,) int64 are updated in place -> codes (n, steps)."""


def make_step_kernel(weights: StepWeights, device: torch.device, backend: str = "auto",
                     threads: int | None = None) -> StepKernel:
    """'auto' picks the compiled kernel on CPU when it is built and speaks this code's ABI, PyTorch otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sampler backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "native" or (backend == "auto" and device.type == "cpu" and native_available()):
        if device.type != "cpu":
            raise ValueError("the native step kernel runs on the CPU only")
        try:
            return NativeStep(weights, threads)
        except NativeKernelUnavailable as error:
            if backend == "native":
                raise
            log.warning("%s; using the torch kernel", error)
    return TorchStep(weights)
