"""The incremental cached-convolution sampler ("fast WaveNet", Paine et al., 2016).

Each dilated layer keeps a queue (ring buffer) of its last (K-1)*d inputs, exactly the taps its next
output column needs, so a new sample costs one column of work per layer instead of a pass over the
receptive field. The sampler owns that state for a fixed number of stream slots; a swappable step kernel
(compiled C on CPU, PyTorch elsewhere) advances it.

All slots share one clock `time`: a stream primed into a slot at time t0 has its history written where
the shared clock expects it, so one ring index serves every stream and streams can join at any step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from model_core.model import WaveNet
from model_core.sampling import counter_uniform, sample_codes
from model_core.step_native import NativeStep, native_available
from model_core.step_torch import TorchStep
from model_core.step_weights import StepWeights


class StepKernel(Protocol):
    name: str

    def __call__(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor,
                 time: int) -> torch.Tensor: ...


def make_step_kernel(weights: StepWeights, residual_channels: int, device: torch.device,
                     backend: str = "auto", threads: int | None = None) -> StepKernel:
    """'auto' picks the compiled kernel on CPU when it is built, PyTorch operators otherwise."""
    if backend not in ("auto", "native", "torch"):
        raise ValueError(f"unknown sampler backend {backend!r}: use auto, native or torch")
    use_native = backend == "native" or (backend == "auto" and device.type == "cpu" and native_available())
    if use_native:
        if device.type != "cpu":
            raise ValueError("the native step kernel runs on the CPU only")
        return NativeStep(weights, residual_channels, threads)
    return TorchStep(weights, residual_channels)


class IncrementalSampler:
    """Per-stream queues for `batch_size` slots of one WaveNet; `prime` then `step` produce logits.

    prime(codes (B, T)) -> logits (B, classes) for the sample after the seed; step(codes (B,)) feeds each
    stream its next sample and returns the logits for the one after. The model's weights are shared,
    never copied per stream.
    """

    def __init__(self, model: WaveNet, batch_size: int, backend: str = "auto", threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = model.eval()
        self.config = model.config
        self.batch_size = batch_size
        device = model.embed.weight.device
        self.weights = StepWeights.from_model(model)
        self.kernel = make_step_kernel(self.weights, self.config.residual_channels, device, backend, threads)
        self.queues = torch.zeros(batch_size, self.weights.queue_total, self.config.residual_channels,
                                  device=device)
        self.gate_bias = self.weights.conv_bias.expand(batch_size, -1, -1).clone()
        self.logits = torch.zeros(batch_size, self.config.classes, device=device)
        """Each slot's distribution of its next sample, as the last prime or step left it."""
        self.time = 0

    @property
    def device(self) -> torch.device:
        return self.queues.device

    @torch.inference_mode()
    def prime(self, codes: torch.Tensor, speaker: torch.Tensor | None = None) -> torch.Tensor:
        """Fill every slot from seeds codes (B, T), T >= 1, in one parallel pass -> logits (B, classes)."""
        if codes.shape[0] != self.batch_size:
            raise ValueError(f"prime expects {self.batch_size} seeds, got {codes.shape[0]}")
        return self.prime_slots(range(self.batch_size), codes, speaker)

    @torch.inference_mode()
    def prime_slots(self, slots: Sequence[int], codes: torch.Tensor,
                    speaker: torch.Tensor | None = None) -> torch.Tensor:
        """Start new streams in `slots` (the others keep running) from seeds codes (len(slots), T)."""
        slots = list(slots)
        if codes.dim() != 2 or codes.shape[0] != len(slots) or codes.shape[1] < 1:
            raise ValueError("seed codes must have shape (len(slots), T) with T >= 1")
        # Only the last receptive-field samples can reach the queues or the next logits, so the prime
        # costs the same for any longer seed.
        codes = codes[:, -self.config.receptive_field:].to(self.device, torch.long)
        inputs: list[torch.Tensor] = []
        logits = self.model(codes, speaker, layer_inputs=inputs)[:, :, -1]
        rows = torch.tensor(slots, device=self.device)
        gate_biases = self.model.gate_biases(speaker, len(slots))
        seed_length = codes.shape[1]
        for layer, x in enumerate(inputs):
            bias = self.weights.conv_bias[layer]
            self.gate_bias[rows, layer] = bias if gate_biases[layer] is None else bias + gate_biases[layer]
            length, offset = self.weights.queue_lengths[layer], self.weights.queue_offsets[layer]
            if not length:
                continue
            # History times seed_length - length .. seed_length - 1 (zero before the seed, as the
            # parallel pass pads) go to the slots the shared clock will read them from.
            history = torch.zeros(len(slots), length, x.shape[1], device=self.device)
            kept = min(length, seed_length)
            history[:, length - kept:] = x[:, :, seed_length - kept:].transpose(1, 2)
            ring = (self.time - length + torch.arange(length, device=self.device)) % length
            self.queues[rows[:, None], offset + ring[None, :]] = history
        self.logits[rows] = logits.float()
        return logits.float()

    @torch.inference_mode()
    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """Feed each slot its next sample, codes (B,) -> logits (B, classes) for the sample after it.

        codes of shape (n,) with n < batch_size advance slots 0..n-1 only: a server keeps its live streams
        in the first slots (see `move_slot`) so that idle slots cost nothing.
        """
        if codes.dim() != 1 or not 1 <= codes.shape[0] <= self.batch_size:
            raise ValueError(f"step expects codes of shape (n,) with 1 <= n <= {self.batch_size}, "
                             f"got {tuple(codes.shape)}")
        n = codes.shape[0]
        logits = self.kernel(codes.to(self.device, torch.long), self.gate_bias[:n], self.queues[:n], self.time)
        self.logits[:n] = logits
        self.time += 1
        return logits

    @torch.inference_mode()
    def sample_steps(self, steps: int, temperatures: np.ndarray, seeds: np.ndarray,
                     counters: np.ndarray) -> np.ndarray:
        """Generate `steps` samples for slots 0..n-1 (n = len(seeds)): draw each from the slot's logits with
        counter_uniform(seed, counter + k), feed it back, repeat -> codes (n, steps).

        The native kernel does all of it in one call; other kernels draw with sampling.py between steps.
        Either way a stream's draws depend only on its own logits, seed and counter.
        """
        n = len(seeds)
        if not 1 <= n <= self.batch_size or steps < 1:
            raise ValueError(f"need 1 <= streams <= {self.batch_size} and steps >= 1")
        fused = getattr(self.kernel, "sample_steps", None)
        if fused is not None:
            out = fused(self.logits[:n], temperatures, seeds, counters, self.gate_bias[:n], self.queues[:n],
                        self.time, steps)
            self.time += steps
            return out
        out = np.empty((n, steps), dtype=np.int64)
        counters = np.asarray(counters, dtype=np.int64)
        for k in range(steps):
            out[:, k] = sample_codes(self.logits[:n], temperatures, counter_uniform(seeds, counters + k))
            self.step(torch.from_numpy(out[:, k]))
        return out

    @torch.inference_mode()
    def move_slot(self, source: int, target: int) -> None:
        """Move a live stream's state to another slot (the source slot is then free)."""
        self.queues[target] = self.queues[source]
        self.gate_bias[target] = self.gate_bias[source]
        self.logits[target] = self.logits[source]
