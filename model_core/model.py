"""WaveNet (van den Oord et al., 2016): dilated causal convolutions, gated units, residual and skip paths.

Shapes follow the convention x: (batch, channels, time). `WaveNet.forward` is the parallel (teacher-forced)
pass used for training and scoring; the incremental sampler (inference/sampler.py) reuses these very weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model_core.config import WaveNetConfig


class ResidualLayer(nn.Module):
    """One dilated causal convolution, the gated unit tanh(W_f x) * sigmoid(W_g x), and 1x1 projections
    back to the residual stream and out to the skip sum."""

    def __init__(self, config: WaveNetConfig, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.padding = (config.kernel_size - 1) * dilation
        self.residual_channels = config.residual_channels
        self.conv = nn.Conv1d(config.residual_channels, config.gate_channels, config.kernel_size,
                              dilation=dilation)
        self.out = nn.Conv1d(config.gate_channels // 2,
                             config.residual_channels + config.skip_channels, 1)
        self.condition = (nn.Linear(config.speaker_channels, config.gate_channels, bias=False)
                          if config.speakers else None)

    def forward(self, x: torch.Tensor, gate_bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, R, T), gate_bias: (B, G) or None -> (next residual (B, R, T), skip (B, S, T))."""
        z = self.conv(F.pad(x, (self.padding, 0)))
        if gate_bias is not None:
            z = z + gate_bias[:, :, None]
        filt, gate = z.chunk(2, dim=1)
        projected = self.out(torch.tanh(filt) * torch.sigmoid(gate))
        return x + projected[:, : self.residual_channels], projected[:, self.residual_channels :]


class WaveNet(nn.Module):
    """Codes (B, T) -> logits (B, classes, T); logits[:, :, t] is the distribution of the sample at t + 1."""

    def __init__(self, config: WaveNetConfig) -> None:
        super().__init__()
        self.config = config
        # An embedding is the paper's one-hot input followed by a 1x1 convolution, without the zeros.
        self.embed = nn.Embedding(config.classes, config.residual_channels)
        self.speaker_embed = (nn.Embedding(config.speakers, config.speaker_channels)
                              if config.speakers else None)
        self.layers = nn.ModuleList(ResidualLayer(config, d) for d in config.dilations)
        self.head_hidden = nn.Conv1d(config.skip_channels, config.head_channels, 1)
        self.head_out = nn.Conv1d(config.head_channels, config.classes, 1)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def gate_biases(self, speaker: torch.Tensor | None, batch: int) -> list[torch.Tensor | None]:
        """Per-layer global-conditioning terms V_k h of the paper (eq. 3): (B, G) each, or None."""
        if self.speaker_embed is None:
            if speaker is not None:
                raise ValueError("this model has no speaker conditioning; pass speaker=None")
            return [None] * len(self.layers)
        if speaker is None:
            raise ValueError(f"this model is conditioned on {self.config.speakers} speakers; pass speaker ids")
        speaker = torch.as_tensor(speaker, dtype=torch.long, device=self.embed.weight.device).reshape(-1)
        if speaker.numel() != batch or bool(((speaker < 0) | (speaker >= self.config.speakers)).any()):
            raise ValueError(f"speaker must hold {batch} ids in [0, {self.config.speakers})")
        h = self.speaker_embed(speaker)
        return [layer.condition(h) for layer in self.layers]

    def head(self, skip: torch.Tensor) -> torch.Tensor:
        """Skip sum (B, S, T) -> logits (B, classes, T): ReLU, 1x1, ReLU, 1x1 as in the paper."""
        return self.head_out(F.relu(self.head_hidden(F.relu(skip))))

    def forward(self, codes: torch.Tensor, speaker: torch.Tensor | None = None) -> torch.Tensor:
        """codes: (B, T) int64 -> logits (B, classes, T)."""
        x = self.embed(codes).transpose(1, 2)
        skip = torch.zeros((), device=x.device, dtype=x.dtype)
        for layer, gate_bias in zip(self.layers, self.gate_biases(speaker, codes.shape[0]), strict=True):
            x, s = layer(x, gate_bias)
            skip = skip + s
        return self.head(skip)
