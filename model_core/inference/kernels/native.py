"""The compiled CPU step kernel (wavenet_step.c), called through ctypes with the weights bound once.

The shared library is built when the package is installed (setup.py). The ctypes declarations below mirror
wavenet_step.h; the library's wavenet_abi_version() must equal ABI_VERSION, so a stale or foreign build is
refused with a clear error (and 'auto' falls back to the torch kernel) instead of being called with a
struct of the wrong shape.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import torch

from model_core.device import usable_cores
from model_core.inference.kernels.weights import StepWeights

ABI_VERSION = 2
"""WAVENET_STEP_ABI_VERSION of the wavenet_step.h these declarations mirror."""
_PTR = ctypes.c_void_p
_I32, _I64 = ctypes.c_int32, ctypes.c_int64


class _Model(ctypes.Structure):
    """wavenet_model of wavenet_step.h."""

    _fields_ = [(name, _I32) for name in
                ("layers", "residual", "gate", "skip", "hidden", "classes", "taps", "queue_total")] + [
        (name, _PTR) for name in
        ("embed", "conv_weight", "out_weight", "out_bias", "head_hidden_weight", "head_hidden_bias",
         "head_out_weight", "head_out_bias", "dilations", "queue_lengths", "queue_offsets")]


_SIGNATURES = {
    "wavenet_abi_version": (_I32, []),
    "wavenet_step": (None, [ctypes.POINTER(_Model), _I32, _PTR, _PTR, _PTR, _I64, _PTR, _PTR, _I32]),
    "wavenet_sample_steps": (None, [ctypes.POINTER(_Model), _I32, _I32, _PTR, _PTR, _PTR, _PTR, _PTR, _PTR, _I64,
                                    _PTR, _PTR, _PTR, _I32]),
}


class NativeKernelUnavailable(RuntimeError):
    """The compiled kernel is not built, or was built from another version of wavenet_step.h."""


def _library_path() -> Path | None:
    found = sorted(Path(__file__).parent.glob("_wavenet_step*.so"))
    return found[0] if found else None


def native_available() -> bool:
    return _library_path() is not None


def default_step_threads() -> int:
    """Kernel threads unless told otherwise (WAVENET_STEP_THREADS). Every core when OpenMP threads sleep
    between rounds (OMP_WAIT_POLICY=PASSIVE, which `wavenet` sets before OpenMP starts); otherwise every core
    but one, left to the caller's own work: spinning threads that share a core with busy work collapse. A
    batch of one block of streams runs on one thread anyway."""
    configured = os.environ.get("WAVENET_STEP_THREADS")
    if configured:
        return int(configured)
    cores = usable_cores()
    return cores if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else max(1, cores - 1)


def load_library(path: Path | None = None) -> ctypes.CDLL:
    """The compiled kernel with its functions declared; NativeKernelUnavailable if missing or of another ABI."""
    path = path or _library_path()
    if path is None:
        raise NativeKernelUnavailable("the compiled step kernel is not built; reinstall the package with a C "
                                      "compiler")
    try:
        library = ctypes.CDLL(str(path))
    except OSError as error:  # e.g. no OpenMP runtime, another architecture
        raise NativeKernelUnavailable(f"{path.name} cannot be loaded: {error}") from error
    missing = [name for name in _SIGNATURES if not hasattr(library, name)]
    if missing:
        raise NativeKernelUnavailable(f"{path.name} lacks {', '.join(missing)} (it predates the versioned kernel "
                                      "ABI); rebuild it (pip install -e . or make clean test)")
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(library, name)
        function.restype, function.argtypes = restype, argtypes
    version = library.wavenet_abi_version()
    if version != ABI_VERSION:
        raise NativeKernelUnavailable(f"{path.name} speaks kernel ABI version {version}, this code version "
                                      f"{ABI_VERSION}; rebuild it (pip install -e . or make clean test)")
    return library


class NativeStep:
    """Same contract as TorchStep, CPU float32 only; one C call per step (or per round of steps) for the batch."""

    name = "native"

    def __init__(self, weights: StepWeights, threads: int | None = None) -> None:
        self._lib = load_library()
        # Threads split the batch's blocks of streams; a batch of one block runs on one thread whatever this says.
        self.threads = threads or default_step_threads()
        index = lambda values: torch.tensor(values, dtype=torch.int64)  # noqa: E731
        # Held here so the pointers in the struct stay valid for the kernel's lifetime.
        self._keep = [weights.embed, weights.conv_weight, weights.out_weight, weights.out_bias,
                      weights.head_hidden_weight, weights.head_hidden_bias, weights.head_out_weight,
                      weights.head_out_bias, index(weights.dilations), index(weights.queue_lengths),
                      index(weights.queue_offsets)]
        self._model = _Model(weights.layers, weights.residual_channels, weights.gate_channels,
                             weights.skip_channels, weights.head_channels, weights.classes, weights.taps,
                             weights.queue_total, *[t.data_ptr() for t in self._keep])
        self._logits: torch.Tensor | None = None
        self._scratch: torch.Tensor | None = None

    def _buffers(self, batch: int) -> None:
        if self._logits is None or self._logits.shape[0] != batch:
            self._logits = torch.empty(batch, self._model.classes)
            self._scratch = torch.empty(batch, self._model.residual + self._model.skip)

    def step(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor, time: int) -> torch.Tensor:
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
        """`steps` rounds of draw-then-step in one C call: logits (n, classes) and counters (n,) int64 (which
        must be contiguous) are updated in place -> codes (n, steps). Draws as draws.py makes them."""
        batch = logits.shape[0]
        self._buffers(batch)
        if counters.dtype != np.int64 or not counters.flags.c_contiguous:
            raise ValueError("counters must be a contiguous int64 array: the kernel advances it in place")
        temperatures = np.ascontiguousarray(temperatures, dtype=np.float64)
        seeds = np.ascontiguousarray(np.asarray(seeds, dtype=np.int64).astype(np.uint64))
        out = np.empty((batch, steps), dtype=np.int64)
        codes = np.empty(batch, dtype=np.int64)
        self._lib.wavenet_sample_steps(ctypes.byref(self._model), batch, steps, logits.data_ptr(),
                                       temperatures.ctypes.data, seeds.ctypes.data, counters.ctypes.data,
                                       gate_bias.data_ptr(), queues.data_ptr(), time, out.ctypes.data,
                                       self._scratch.data_ptr(), codes.ctypes.data, self.threads)
        return out
