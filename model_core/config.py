"""The one description of a WaveNet's shape: saved beside the weights, and the only way to build a model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def doubling(up_to: int) -> tuple[int, ...]:
    """The paper's dilation cycle 1, 2, 4, ..., up_to."""
    return tuple(2**i for i in range(up_to.bit_length()) if 2**i <= up_to)


@dataclass(frozen=True)
class WaveNetConfig:
    """Every size of a WaveNet.

    `gate_channels` is the width of each dilated convolution's output; it is split in half into the tanh
    filter and the sigmoid gate, so the gated activation has gate_channels // 2 channels (as in the
    reference implementations). The defaults are the reference architecture that all speed figures use.
    """

    sample_rate: int = 8000
    classes: int = 256
    residual_channels: int = 64
    gate_channels: int = 128
    skip_channels: int = 64
    head_channels: int = 256
    kernel_size: int = 2
    dilation_cycle: tuple[int, ...] = field(default_factory=lambda: doubling(512))
    stacks: int = 2
    speakers: int = 0
    """Number of speaker ids for global conditioning; 0 means an unconditional model."""
    speaker_channels: int = 16
    highpass_hz: float = 0.0
    """Cutoff of the DC-removing front end applied to all input audio (front_end.py); 0 means none, as
    in every checkpoint saved before the front end existed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dilation_cycle", tuple(int(d) for d in self.dilation_cycle))
        problems = []
        if self.gate_channels % 2:
            problems.append("gate_channels must be even (tanh and sigmoid halves)")
        if self.kernel_size < 1 or self.stacks < 1 or not self.dilation_cycle:
            problems.append("kernel_size, stacks and dilation_cycle must be positive / non-empty")
        if any(d < 1 for d in self.dilation_cycle):
            problems.append("dilations must be >= 1")
        if min(self.sample_rate, self.classes, self.residual_channels, self.skip_channels,
               self.head_channels) < 1 or self.speakers < 0 or self.highpass_hz < 0:
            problems.append("sizes must be positive")
        if self.highpass_hz >= self.sample_rate / 2:
            problems.append("highpass_hz must be below half the sample rate")
        if problems:
            raise ValueError("invalid WaveNetConfig: " + "; ".join(problems))

    @property
    def dilations(self) -> tuple[int, ...]:
        return self.dilation_cycle * self.stacks

    @property
    def layers(self) -> int:
        return len(self.dilations)

    @property
    def receptive_field(self) -> int:
        """Samples of input that one output can see, the current sample included."""
        return (self.kernel_size - 1) * sum(self.dilations) + 1

    @property
    def macs_per_sample(self) -> int:
        """Multiply-adds one incremental step costs (convolutions and projections, not the gates)."""
        half = self.gate_channels // 2
        per_layer = (self.kernel_size * self.residual_channels * self.gate_channels
                     + half * (self.residual_channels + self.skip_channels))
        return self.layers * per_layer + self.head_macs

    @property
    def head_macs(self) -> int:
        """Multiply-adds of the output head (skip -> head -> classes) for one sample."""
        return self.skip_channels * self.head_channels + self.head_channels * self.classes

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dilation_cycle"] = list(self.dilation_cycle)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WaveNetConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown WaveNetConfig fields: {unknown}")
        return cls(**data)


HIGHPASS_HZ = 20.0
"""The front end every preset trains with (why 20 Hz: model_core/front_end.py)."""

PRESETS: dict[str, WaveNetConfig] = {
    # Seconds to train on a CPU: for tests and smoke runs.
    "tiny": WaveNetConfig(residual_channels=16, gate_channels=32, skip_channels=16, head_channels=32,
                          dilation_cycle=doubling(16), stacks=1, highpass_hz=HIGHPASS_HZ),
    # Sized so one stream generates faster than real time at 8 kHz on one CPU core and it trains to a
    # useful NLL in about an hour on 2 CPU cores. The shipped model is this preset with a third stack
    # grown on (stacks=3, weights/MODEL_CARD.md).
    "default": WaveNetConfig(residual_channels=32, gate_channels=64, skip_channels=64, head_channels=128,
                             dilation_cycle=doubling(128), stacks=2, highpass_hz=HIGHPASS_HZ),
    # The paper-sized reference architecture, for a GPU host.
    "large": WaveNetConfig(highpass_hz=HIGHPASS_HZ),
}
