"""The model's weights rearranged for one-column-at-a-time inference, shared by every step kernel.

A dilated convolution evaluated at a single time step is a matrix product of the concatenated taps
[x(t - (k-1)d), ..., x(t - d), x(t)] (length k*R) with a (k*R, G) matrix; laying the weights out that way
once, row-major with outputs contiguous, is what lets a kernel stream through them without transposes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model_core.model import WaveNet


@dataclass(frozen=True)
class StepWeights:
    """Every tensor a kernel reads, float32 and contiguous, with the sizes it needs: no kernel re-derives
    them from shapes."""

    residual_channels: int  # R
    gate_channels: int  # G
    skip_channels: int  # S
    head_channels: int  # H
    classes: int
    taps: int  # K, the convolution's kernel size
    embed: torch.Tensor  # (classes, R)
    conv_weight: torch.Tensor  # (layers, K*R, G), tap order oldest first
    conv_bias: torch.Tensor  # (layers, G)
    out_weight: torch.Tensor  # (layers, G/2, R+S)
    out_bias: torch.Tensor  # (layers, R+S)
    head_hidden_weight: torch.Tensor  # (S, H)
    head_hidden_bias: torch.Tensor  # (H,)
    head_out_weight: torch.Tensor  # (H, classes)
    head_out_bias: torch.Tensor  # (classes,)
    dilations: tuple[int, ...]
    queue_lengths: tuple[int, ...]
    """Layer l keeps its last (K-1)*d_l inputs: exactly the taps its next column needs."""
    queue_offsets: tuple[int, ...]

    @property
    def queue_total(self) -> int:
        return sum(self.queue_lengths)

    @property
    def layers(self) -> int:
        return len(self.dilations)

    @classmethod
    def from_model(cls, model: WaveNet) -> StepWeights:
        config = model.config
        k = config.kernel_size

        def stack(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.stack(tensors).detach().float().contiguous()

        lengths = tuple((k - 1) * d for d in config.dilations)
        offsets = tuple(sum(lengths[:i]) for i in range(len(lengths)))
        return cls(
            residual_channels=config.residual_channels,
            gate_channels=config.gate_channels,
            skip_channels=config.skip_channels,
            head_channels=config.head_channels,
            classes=config.classes,
            taps=k,
            embed=model.embed.weight.detach().float().contiguous(),
            # Conv1d weight (G, R, K): kernel index j multiplies x(t - (K-1-j) d).
            conv_weight=stack([layer.conv.weight.permute(2, 1, 0).reshape(k * config.residual_channels, -1)
                               for layer in model.layers]),
            conv_bias=stack([layer.conv.bias for layer in model.layers]),
            out_weight=stack([layer.out.weight[:, :, 0].t() for layer in model.layers]),
            out_bias=stack([layer.out.bias for layer in model.layers]),
            head_hidden_weight=model.head_hidden.weight[:, :, 0].t().detach().float().contiguous(),
            head_hidden_bias=model.head_hidden.bias.detach().float().contiguous(),
            head_out_weight=model.head_out.weight[:, :, 0].t().detach().float().contiguous(),
            head_out_bias=model.head_out.bias.detach().float().contiguous(),
            dilations=config.dilations,
            queue_lengths=lengths,
            queue_offsets=offsets,
        )
