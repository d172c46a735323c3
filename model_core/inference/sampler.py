"""The incremental cached-convolution sampler ("fast WaveNet", Paine et al., 2016).

Each dilated layer keeps a queue (ring buffer) of its last (K-1)*d inputs, exactly the taps its next
output column needs, so a new sample costs one column of work per layer instead of a pass over the
receptive field. A swappable step kernel (compiled C on CPU, PyTorch elsewhere) advances it.

The sampler is the one owner of a stream's state, for a fixed number of slots: its queues, gate bias and
next-sample logits, its StreamParams (temperature, random seed) and its draw counter. `prime_slots` starts
streams, `sample_steps` advances the first n slots, `move_slot` moves all of a stream at once; the offline
`generate()` and the service's engine call these same methods.

All slots share one clock `time`: a stream primed into a slot at time t0 has its history written where
the shared clock expects it, so one ring index serves every stream and streams can join at any step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from model_core.inference.draws import StreamParams
from model_core.inference.kernels import make_step_kernel
from model_core.inference.kernels.weights import StepWeights
from model_core.model import WaveNet


class IncrementalSampler:
    """Per-stream state for `batch_size` slots of one WaveNet; `prime` then `step` or `sample_steps`.

    prime(codes (B, T)) -> logits (B, classes) for the sample after the seed; step(codes (B,)) feeds each
    stream its next sample and returns the logits for the one after; sample_steps(k, n) draws and feeds k
    samples to slots 0..n-1. The model's weights are shared, never copied per stream.
    """

    def __init__(self, model: WaveNet, batch_size: int, backend: str = "auto", threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = model.eval()
        self.config = model.config
        self.batch_size = batch_size
        device = model.embed.weight.device
        self.weights = StepWeights.from_model(model)
        self.kernel = make_step_kernel(self.weights, device, backend, threads)
        self.queues = torch.zeros(batch_size, self.weights.queue_total, self.config.residual_channels,
                                  device=device)
        self.gate_bias = self.weights.conv_bias.expand(batch_size, -1, -1).clone()
        self.logits = torch.zeros(batch_size, self.config.classes, device=device)
        """Each slot's distribution of its next sample, as the last prime or step left it."""
        self.temperatures = np.ones(batch_size, dtype=np.float64)
        self.random_seeds = np.zeros(batch_size, dtype=np.int64)
        self.draws = np.zeros(batch_size, dtype=np.int64)
        """Samples each slot's stream has drawn since its prime: the counter of its next uniform."""
        self.time = 0
        self._cone = _cone(self.weights)
        half = self.config.gate_channels // 2
        self._filter_gate_scale = torch.tensor([2.0] * half + [1.0] * half, device=device)

    @property
    def device(self) -> torch.device:
        return self.queues.device

    @property
    def prime_macs(self) -> int:
        """Multiply-adds of the GEMMs in one stream's prime, whatever the seed's length (`_prime_pass`)."""
        w = self.weights
        half = w.gate_channels // 2
        per_position = w.taps * w.residual_channels * w.gate_channels + half * w.residual_channels
        return sum(self._cone[1:]) * per_position + w.layers * half * w.skip_channels + self.config.head_macs

    @torch.inference_mode()
    def prime(self, codes: torch.Tensor, speaker: torch.Tensor | None = None) -> torch.Tensor:
        """Fill every slot from seeds codes (B, T), T >= 1, in one parallel pass -> logits (B, classes)."""
        if codes.shape[0] != self.batch_size:
            raise ValueError(f"prime expects {self.batch_size} seeds, got {codes.shape[0]}")
        return self.prime_slots(range(self.batch_size), codes, speaker)

    @torch.inference_mode()
    def prime_slots(self, slots: Sequence[int], codes: torch.Tensor, speaker: torch.Tensor | None = None,
                    params: Sequence[StreamParams] | None = None) -> torch.Tensor:
        """Start new streams in `slots` (the others keep running) from seeds codes (len(slots), T), each with
        its StreamParams (default: temperature 1, random seed 0) and its draw counter at 0."""
        slots = list(slots)
        if codes.dim() != 2 or codes.shape[0] != len(slots) or codes.shape[1] < 1:
            raise ValueError("seed codes must have shape (len(slots), T) with T >= 1")
        params = list(params) if params is not None else [StreamParams()] * len(slots)
        if len(params) != len(slots):
            raise ValueError("give one StreamParams per slot")
        rows = torch.tensor(slots, device=self.device)
        conditioning = self.model.gate_biases(speaker, len(slots))
        for layer, extra in enumerate(conditioning):
            bias = self.weights.conv_bias[layer]
            self.gate_bias[rows, layer] = bias if extra is None else bias + extra
        logits, histories = self._prime_pass(codes.to(self.device, torch.long), self.gate_bias[rows])
        for layer, history in enumerate(histories):
            length, offset = self.weights.queue_lengths[layer], self.weights.queue_offsets[layer]
            if length:  # the inputs of times -length..-1 (seed end = 0) go where the shared clock reads them
                ring = (self.time - length + torch.arange(length, device=self.device)) % length
                self.queues[rows[:, None], offset + ring[None, :]] = history
        self.logits[rows] = logits
        self.temperatures[slots] = [p.temperature for p in params]
        self.random_seeds[slots] = [p.random_seed for p in params]
        self.draws[slots] = 0
        return logits

    def _prime_pass(self, codes: torch.Tensor, gate_bias: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The parallel pass over a seed, in the step kernels' layout -> (logits (n, classes) of the sample
        after it, each layer's last queue_length inputs (n, queue_length, R)).

        codes (n, T), gate_bias (n, layers, G). Only what the queues and the next logits depend on is
        computed: layer l's input over the last `_cone[l]` positions (its queue, and what later layers need
        of its output), as GEMMs of (positions, K*R) taps with the (K*R, G) step weights. Times before the
        seed are zero at every layer's input, as the model's own per-layer padding makes them.
        """
        w, n, seed_length = self.weights, codes.shape[0], codes.shape[1]
        width = self._cone[0]
        x = torch.zeros(n, width, w.residual_channels, device=self.device)
        kept = min(width, seed_length)
        x[:, width - kept:] = w.embed[codes[:, seed_length - kept:]]
        skip = torch.zeros(n, w.skip_channels, device=self.device)
        histories = []
        for layer, dilation in enumerate(w.dilations):
            length = w.queue_lengths[layer]
            histories.append(x[:, x.shape[1] - length:])
            out = self._cone[layer + 1]
            first = x.shape[1] - out  # x position of the first output; tap m reads position first - m*d
            taps = torch.cat([x[:, first - m * dilation: x.shape[1] - m * dilation]
                              for m in range(w.taps - 1, -1, -1)], dim=2)
            z = (taps.reshape(n * out, -1) @ w.conv_weight[layer]).reshape(n, out, -1) + gate_bias[:, layer, None, :]
            # tanh(a) = 2 sigmoid(2a) - 1, one sigmoid pass over filter and gate together: torch's float32 tanh
            # on CPU took 3.5x sigmoid's time and was a fifth of the whole prime.
            squashed = torch.sigmoid(z * self._filter_gate_scale)
            half = w.gate_channels // 2
            gated = squashed[..., :half].mul(2).sub_(1).mul_(squashed[..., half:])
            # The skip projection only at the last position, the one the next logits read: a sixth of the work.
            r = w.residual_channels
            skip += torch.addmm(w.out_bias[layer, r:], gated[:, -1], w.out_weight[layer, :, r:])
            residual = torch.addmm(w.out_bias[layer, :r], gated.reshape(n * out, half), w.out_weight[layer, :, :r])
            x = x[:, first:] + residual.reshape(n, out, r)
            before_seed = out - seed_length
            if before_seed > 0:
                x[:, :before_seed] = 0
        hidden = torch.addmm(w.head_hidden_bias, torch.relu(skip), w.head_hidden_weight)
        return torch.addmm(w.head_out_bias, torch.relu(hidden), w.head_out_weight), histories

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
        logits = self.kernel.step(codes.to(self.device, torch.long), self.gate_bias[:n], self.queues[:n], self.time)
        self.logits[:n] = logits
        self.time += 1
        return logits

    @torch.inference_mode()
    def sample_steps(self, steps: int, n: int) -> np.ndarray:
        """Generate `steps` samples for slots 0..n-1: each draws from its logits with
        counter_uniform(random_seed, draws), feeds it back, repeat -> codes (n, steps).

        A stream's draws depend only on its own logits, params and counter, whichever kernel runs them.
        """
        if not 1 <= n <= self.batch_size or steps < 1:
            raise ValueError(f"need 1 <= streams <= {self.batch_size} and steps >= 1")
        counters = self.draws[:n]  # a view: the kernel advances the sampler's own counters
        out = self.kernel.sample_steps(self.logits[:n], self.temperatures[:n], self.random_seeds[:n], counters,
                                       self.gate_bias[:n], self.queues[:n], self.time, steps)
        self.time += steps
        return out

    @torch.inference_mode()
    def move_slot(self, source: int, target: int) -> None:
        """Move a live stream, all of its state, to another slot (the source slot is then free)."""
        self.queues[target] = self.queues[source]
        self.gate_bias[target] = self.gate_bias[source]
        self.logits[target] = self.logits[source]
        for per_slot in (self.temperatures, self.random_seeds, self.draws):
            per_slot[target] = per_slot[source]


def _cone(weights: StepWeights) -> list[int]:
    """Positions of each layer's input that priming needs, counted back from the seed's end; the last entry
    is the one output position the next logits need. Layer l needs its queue's (K-1) d_l inputs, and the
    (K-1) d_l inputs before each output position that later layers need."""
    need = [1]
    for dilation in reversed(weights.dilations):
        need.append(need[-1] + (weights.taps - 1) * dilation)
    return need[::-1]
