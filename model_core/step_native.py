"""The compiled CPU step kernel (csrc/wavenet_step.c), called through ctypes with the weights bound once.

The shared library is built when the package is installed (setup.py); `load_native_step` returns None
when it is missing (an install without a C compiler), and the sampler falls back to the torch kernel.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import torch

from model_core.step_weights import StepWeights

_PTR = ctypes.c_void_p


class _Model(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in
                ("layers", "residual", "gate", "skip", "hidden", "classes", "taps", "queue_total")] + [
        (name, _PTR) for name in
        ("embed", "conv_weight", "out_weight", "out_bias", "head_hidden_weight", "head_hidden_bias",
         "head_out_weight", "head_out_bias", "dilations", "queue_lengths", "queue_offsets")]


def _library_path() -> Path | None:
    found = sorted(Path(__file__).parent.glob("_wavenet_step*.so"))
    return found[0] if found else None


def native_available() -> bool:
    return _library_path() is not None


class NativeStep:
    """Same contract as TorchStep, CPU float32 only; one C call per step for the whole batch."""

    name = "native"

    def __init__(self, weights: StepWeights, residual_channels: int, threads: int | None = None) -> None:
        path = _library_path()
        if path is None:
            raise RuntimeError("the compiled step kernel is not built; reinstall the package with a C compiler")
        self._lib = ctypes.CDLL(str(path))
        self._lib.wavenet_step.restype = None
        self._lib.wavenet_step.argtypes = [ctypes.POINTER(_Model), ctypes.c_int32, _PTR, _PTR, _PTR,
                                           ctypes.c_int64, _PTR, _PTR, ctypes.c_int32]
        self._lib.wavenet_sample_steps.restype = None
        self._lib.wavenet_sample_steps.argtypes = [ctypes.POINTER(_Model), ctypes.c_int32, ctypes.c_int32, _PTR,
                                                   _PTR, _PTR, _PTR, _PTR, _PTR, ctypes.c_int64, _PTR, _PTR, _PTR,
                                                   ctypes.c_int32]
        # Default: every core (WAVENET_STEP_THREADS overrides). Threads split the batch's blocks of streams;
        # a batch of one block runs on one thread whatever this says.
        self.threads = threads or int(os.environ.get("WAVENET_STEP_THREADS", len(os.sched_getaffinity(0))))
        index = lambda values: torch.tensor(values, dtype=torch.int64)  # noqa: E731
        # Held here so the pointers in the struct stay valid for the kernel's lifetime.
        self._keep = [weights.embed, weights.conv_weight, weights.out_weight, weights.out_bias,
                      weights.head_hidden_weight, weights.head_hidden_bias, weights.head_out_weight,
                      weights.head_out_bias, index(weights.dilations), index(weights.queue_lengths),
                      index(weights.queue_offsets)]
        layers, taps_r, gate = weights.conv_weight.shape
        self._model = _Model(layers, residual_channels, gate, weights.out_weight.shape[2] - residual_channels,
                             weights.head_hidden_weight.shape[1], weights.head_out_weight.shape[1],
                             taps_r // residual_channels, weights.queue_total,
                             *[t.data_ptr() for t in self._keep])
        self._logits: torch.Tensor | None = None
        self._scratch: torch.Tensor | None = None

    def _buffers(self, batch: int) -> None:
        if self._logits is None or self._logits.shape[0] != batch:
            self._logits = torch.empty(batch, self._model.classes)
            self._scratch = torch.empty(batch, self._model.residual + self._model.skip)

    def __call__(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor,
                 time: int) -> torch.Tensor:
        batch = codes.shape[0]
        self._buffers(batch)
        codes = codes.to(torch.int64).contiguous()
        self._lib.wavenet_step(ctypes.byref(self._model), batch, codes.data_ptr(), gate_bias.data_ptr(),
                               queues.data_ptr(), time, self._logits.data_ptr(), self._scratch.data_ptr(),
                               self.threads)
        return self._logits.clone()

    def sample_steps(self, logits: torch.Tensor, temperatures: np.ndarray, seeds: np.ndarray,
                     counters: np.ndarray, gate_bias: torch.Tensor, queues: torch.Tensor, time: int,
                     steps: int) -> np.ndarray:
        """`steps` rounds of draw-then-step in one C call (see csrc); logits (n, classes) are updated in
        place -> codes (n, steps). Draws use counter_uniform(seed, counter + k), as sampling.py does."""
        batch = logits.shape[0]
        self._buffers(batch)
        temperatures = np.ascontiguousarray(temperatures, dtype=np.float64)
        seeds = np.ascontiguousarray(np.asarray(seeds, dtype=np.int64).astype(np.uint64))
        counters = np.array(counters, dtype=np.int64)  # a copy: the kernel advances it
        out = np.empty((batch, steps), dtype=np.int64)
        codes = np.empty(batch, dtype=np.int64)
        self._lib.wavenet_sample_steps(ctypes.byref(self._model), batch, steps, logits.data_ptr(),
                                       temperatures.ctypes.data, seeds.ctypes.data, counters.ctypes.data,
                                       gate_bias.data_ptr(), queues.data_ptr(), time, out.ctypes.data,
                                       self._scratch.data_ptr(), codes.ctypes.data, self.threads)
        return out
