"""The portable step kernel: plain PyTorch operators, for any device (the CUDA path) and as the reference.

Every operation reads the clock from a device tensor, so a round of steps issues no host synchronisation
and, on CUDA, can be captured once in a CUDA graph and replayed (cuda_graphs.py).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from model_core.inference.draws import counter_uniform, sample_codes
from model_core.inference.kernels.cuda_graphs import Capture, CaptureFailed, GraphedRounds, capture_cuda_graph
from model_core.inference.kernels.weights import StepWeights

log = logging.getLogger("wavenet.kernels")


class TorchStep:
    """Advances every stream of a batch by one sample; state lives in the sampler, weights here.

    `graphs` replays rounds from graphs made by `capture` (cuda_graphs.py); None means "on a CUDA device".
    A capture that fails is logged once and the kernel goes on with eager rounds, which compute the same.
    """

    name = "torch"

    def __init__(self, weights: StepWeights, graphs: bool | None = None,
                 capture: Capture = capture_cuda_graph) -> None:
        self.w = weights
        device = weights.embed.device
        # Ring positions as index vectors, so that one gather reads every layer's taps and one scatter
        # writes every layer's input: tap m (oldest first) of layer l is at offset_l + (t - m d_l) mod len_l.
        self._queued = weights.taps > 1  # kernel size 1 keeps no queues
        def indices(values: list[int] | tuple[int, ...]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.int64, device=device)

        older = range(weights.taps - 1, 0, -1)
        self._read_lags = indices([m * d for d in weights.dilations for m in older])
        self._read_lengths = indices([n for n in weights.queue_lengths for _ in older])
        self._read_offsets = indices([o for o in weights.queue_offsets for _ in older])
        self._write_lengths = indices(weights.queue_lengths)
        self._write_offsets = indices(weights.queue_offsets)
        use_graphs = graphs if graphs is not None else device.type == "cuda"
        self._graphs = GraphedRounds(self, capture) if use_graphs else None

    @torch.inference_mode()
    def step(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor, time: int) -> torch.Tensor:
        """codes (B,) int64, gate_bias (B, layers, G), queues (B, Q, R) updated in place -> logits (B, C)."""
        return self.step_at(codes, gate_bias, queues, torch.full((), time, dtype=torch.int64, device=queues.device))

    def step_at(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor,
                time: torch.Tensor) -> torch.Tensor:
        """`step` with the clock as a 0-dim int64 tensor on the queues' device: no host value anywhere."""
        w = self.w
        batch, r, half, layers = codes.shape[0], w.residual_channels, w.gate_channels // 2, w.layers
        x = w.embed[codes]
        if self._queued:
            reads = self._read_offsets + torch.remainder(time - self._read_lags, self._read_lengths)
            taps = queues.index_select(1, reads).reshape(batch, layers, -1)  # (B, layers, (K-1) R)
        inputs = []
        skip = None
        for layer in range(layers):
            inputs.append(x)
            stacked = torch.cat([taps[:, layer], x], dim=1) if self._queued else x
            z = torch.addmm(gate_bias[:, layer], stacked, w.conv_weight[layer])
            projected = torch.addmm(w.out_bias[layer], torch.tanh(z[:, :half]) * torch.sigmoid(z[:, half:]),
                                    w.out_weight[layer])
            x = x + projected[:, :r]
            skip = projected[:, r:] if skip is None else skip + projected[:, r:]
        if self._queued:  # after every read: a layer's oldest tap is the slot its input now overwrites
            writes = self._write_offsets + torch.remainder(time, self._write_lengths)
            queues.index_copy_(1, writes, torch.stack(inputs, dim=1))
        hidden = torch.addmm(w.head_hidden_bias, torch.relu(skip), w.head_hidden_weight)
        return torch.addmm(w.head_out_bias, torch.relu(hidden), w.head_out_weight)

    def run_round(self, out: torch.Tensor, logits: torch.Tensor, temperatures: torch.Tensor, seeds: torch.Tensor,
                  first: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor, time: torch.Tensor) -> None:
        """out.shape[1] rounds of draw-then-step, every argument a tensor on one device (so a CUDA graph can
        capture it): out (n, steps) int64 receives the codes; logits (n, C) and queues are updated in place;
        temperatures (n,) float64, seeds and first counters (n,) int64, time a 0-dim int64."""
        for k in range(out.shape[1]):
            out[:, k] = sample_codes(logits, temperatures, counter_uniform(seeds, first + k))
            logits.copy_(self.step_at(out[:, k], gate_bias, queues, time + k))

    @torch.inference_mode()
    def sample_steps(self, logits: torch.Tensor, temperatures: np.ndarray, seeds: np.ndarray,
                     counters: np.ndarray, gate_bias: torch.Tensor, queues: torch.Tensor, time: int,
                     steps: int) -> np.ndarray:
        """The draw-then-step loop of the protocol with the draws of draws.py on the logits' device: a round
        of `steps` runs without a host synchronisation, and its codes come back once, at its end."""
        device = logits.device
        arguments = (torch.as_tensor(temperatures, dtype=torch.float64).to(device),
                     torch.as_tensor(seeds, dtype=torch.int64).to(device),
                     torch.as_tensor(counters, dtype=torch.int64).to(device))
        out = None
        if self._graphs is not None:
            try:
                out = self._graphs.run(logits, *arguments, gate_bias, queues, time, steps)
            except CaptureFailed as error:  # raised before the live state is copied in: nothing is lost
                log.warning("CUDA graph capture failed (%s); running rounds eagerly", error)
                self._graphs = None
        if out is None:
            out = torch.empty((logits.shape[0], steps), dtype=torch.int64, device=device)
            self.run_round(out, logits, *arguments, gate_bias, queues,
                           torch.full((), time, dtype=torch.int64, device=device))
        counters += steps
        return out.cpu().numpy()
