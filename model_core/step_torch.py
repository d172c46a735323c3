"""The portable step kernel: plain PyTorch operators, for any device (the CUDA path) and as the reference."""

from __future__ import annotations

import torch

from model_core.step_weights import StepWeights


class TorchStep:
    """Advances every stream of a batch by one sample; state lives in the sampler, weights here."""

    name = "torch"

    def __init__(self, weights: StepWeights, residual_channels: int) -> None:
        self.w = weights
        self.r = residual_channels
        self.half = weights.conv_weight.shape[2] // 2
        self.taps = weights.conv_weight.shape[1] // residual_channels

    @torch.inference_mode()
    def __call__(self, codes: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor,
                 time: int) -> torch.Tensor:
        """codes (B,) int64, gate_bias (B, layers, G), queues (B, Q, R) updated in place -> logits (B, C)."""
        w, r, half = self.w, self.r, self.half
        x = w.embed[codes]
        skip = None
        for layer, (dilation, length, offset) in enumerate(zip(w.dilations, w.queue_lengths,
                                                               w.queue_offsets, strict=True)):
            taps = [queues[:, offset + (time - m * dilation) % length] for m in range(self.taps - 1, 0, -1)]
            z = torch.addmm(gate_bias[:, layer], torch.cat([*taps, x], dim=1), w.conv_weight[layer])
            if length:
                queues[:, offset + time % length] = x
            projected = torch.addmm(w.out_bias[layer], torch.tanh(z[:, :half]) * torch.sigmoid(z[:, half:]),
                                    w.out_weight[layer])
            x = x + projected[:, :r]
            skip = projected[:, r:] if skip is None else skip + projected[:, r:]
        hidden = torch.addmm(w.head_hidden_bias, torch.relu(skip), w.head_hidden_weight)
        return torch.addmm(w.head_out_bias, torch.relu(hidden), w.head_out_weight)
