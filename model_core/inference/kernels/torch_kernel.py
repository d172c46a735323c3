"""The portable step kernel: plain PyTorch operators, for any device (the CUDA path) and as the reference."""

from __future__ import annotations

import numpy as np
import torch

from model_core.inference.draws import counter_uniform, sample_codes
from model_core.inference.kernels.weights import StepWeights


class TorchStep:
    """Advances every stream of a batch by one sample; state lives in the sampler, weights here."""

    name = "torch"

    def __init__(self, weights: StepWeights) -> None:
        self.w = weights

    @torch.inference_mode()
    def step(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor, time: int) -> torch.Tensor:
        """codes (B,) int64, gate_bias (B, layers, G), queues (B, Q, R) updated in place -> logits (B, C)."""
        w = self.w
        r, half = w.residual_channels, w.gate_channels // 2
        x = w.embed[codes]
        skip = None
        for layer, (dilation, length, offset) in enumerate(zip(w.dilations, w.queue_lengths,
                                                               w.queue_offsets, strict=True)):
            taps = [queues[:, offset + (time - m * dilation) % length] for m in range(w.taps - 1, 0, -1)]
            z = torch.addmm(gate_bias[:, layer], torch.cat([*taps, x], dim=1), w.conv_weight[layer])
            if length:
                queues[:, offset + time % length] = x
            projected = torch.addmm(w.out_bias[layer], torch.tanh(z[:, :half]) * torch.sigmoid(z[:, half:]),
                                    w.out_weight[layer])
            x = x + projected[:, :r]
            skip = projected[:, r:] if skip is None else skip + projected[:, r:]
        hidden = torch.addmm(w.head_hidden_bias, torch.relu(skip), w.head_hidden_weight)
        return torch.addmm(w.head_out_bias, torch.relu(hidden), w.head_out_weight)

    @torch.inference_mode()
    def sample_steps(self, logits: torch.Tensor, temperatures: np.ndarray, seeds: np.ndarray,
                     counters: np.ndarray, gate_bias: torch.Tensor, queues: torch.Tensor, time: int,
                     steps: int) -> np.ndarray:
        """The draw-then-step loop of the protocol with the draws of draws.py on the logits' device: a round
        of `steps` runs without a host synchronisation, and its codes come back once, at its end."""
        device = logits.device
        seeds_on_device = torch.as_tensor(seeds, dtype=torch.int64).to(device)
        first = torch.as_tensor(counters, dtype=torch.int64).to(device)
        temperatures_on_device = torch.as_tensor(temperatures, dtype=torch.float64).to(device)
        out = torch.empty((logits.shape[0], steps), dtype=torch.int64, device=device)
        for k in range(steps):
            out[:, k] = sample_codes(logits, temperatures_on_device, counter_uniform(seeds_on_device, first + k))
            logits[:] = self.step(out[:, k], gate_bias, queues, time + k)
        counters += steps
        return out.cpu().numpy()
