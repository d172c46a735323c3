"""How far a float32 result may be from the exact one: the tolerance that the suite's exactness tests share.

A fixed bound such as `max |error| <= 1e-4` is not portable: float32 GEMMs sum their products in an order
that depends on the CPU's vector width, on the BLAS kernel chosen for the shapes and on the thread count,
and logits of magnitude ~50 have an ulp of 3.8e-6, so a few dozen ulps of honest rounding already exceed it
(tests/test_sampler.py, comparing two float32 results that way, failed at 1.12e-4). Instead every float32
path (the parallel forward and the incremental sampler alike) is compared with the float64 forward of the
same weights, and the error is bounded relative to the scale of what is compared:

    max |float32 - exact| <= C * EPS32 * sqrt(K) * D * max |exact|

- EPS32 = 2**-23, float32's relative spacing: the unit of every rounding error.
- K, the longest dot product (fan-in) in the network: max(kernel_size * R, G / 2, S, H, speaker_channels).
  A length-K dot product computed in any summation order is off by at most gamma_K * sum |x_i w_i| with
  gamma_K ~ K * EPS32 / 2 in the worst case; rounding errors of mixed sign behave like a random walk, so
  the realistic (probabilistic) bound is lambda * sqrt(K) * EPS32 / 2 * sum |x_i w_i| with lambda a small
  confidence constant (Higham & Mary, "A new approach to probabilistic rounding error analysis", 2019).
- D = 2 * layers + 2, the chained GEMMs between input and logits (each layer's dilated convolution and its
  1x1 projection, then the two 1x1 layers of the head). Each adds its own error, which reaches the logits
  through the rest of the network; at worst these add up linearly in D. (The residual and skip sums are
  chains of `layers` additions, within the same factor.)
- max |exact|, the scale: sum |x_i w_i| and the downstream gain, relative to the logits' size, are O(1) for
  these networks, which is what lets one constant serve every size.

C = 1 (lambda ~ 2, unit gain). Measured on the test configurations and on the shipped, default and
paper-sized models, 1 and 2 threads, both step kernels, x86-64 with AVX2 and FMA: the error is 0.005 to
0.12 of this bound (0.1 at most in tests/test_sampler.py, 0.01 on the paper-sized model), so a CPU or thread
count that blocks its sums differently has about a 10x margin. (The shipped model grew to 24 layers later:
0.005 to 0.008 of this bound on it, 1 and 2 threads, both kernels, AVX-512; D grows with it. Then to 32: on a
held-out seed, 0.0055 to 0.0086, the same four cases.) A queue index
off by one slot, even in one layer only, gives errors of the order of the logits themselves: 1.4e4 to 1.2e5
times the bound (tests/test_sampler.py::test_the_criterion_rejects_an_off_by_one_queue_index keeps that proven).

The bound for the difference of two float32 evaluations of one function is twice this (both are within it
of the exact value); intermediate activations (the sampler's queues) use the same envelope with their own
scale, since they sit at most D GEMMs deep.
"""

from __future__ import annotations

import copy
import math

import torch

from model_core import WaveNet, WaveNetConfig

EPS32 = torch.finfo(torch.float32).eps
C = 1.0


def longest_dot_product(config: WaveNetConfig) -> int:
    return max(config.kernel_size * config.residual_channels, config.gate_channels // 2, config.skip_channels,
               config.head_channels, config.speaker_channels if config.speakers else 0)


def gemm_depth(config: WaveNetConfig) -> int:
    return 2 * config.layers + 2


def float32_tolerance(config: WaveNetConfig, scale: float | torch.Tensor) -> float:
    """The largest |float32 - exact| accepted for values of magnitude up to `scale` (see the module doc)."""
    return C * EPS32 * math.sqrt(longest_dot_product(config)) * gemm_depth(config) * float(scale)


def exact_logits(model: WaveNet, codes: torch.Tensor, speaker: torch.Tensor | None = None) -> torch.Tensor:
    """The float64 forward of a float32 model -> logits (B, classes, T) in float64.

    float32 weights widen to float64 exactly, so this is the float32 model's own function, evaluated with
    rounding errors ~1e-16 relative: the yardstick for every float32 path.
    """
    with torch.no_grad():
        return copy.deepcopy(model).double()(codes, speaker)


def error_ratio(actual: torch.Tensor, exact: torch.Tensor, config: WaveNetConfig, evaluations: int = 1) -> float:
    """max |actual - exact| in units of the tolerance at the scale max |exact|; <= 1 passes.

    evaluations=2 when `exact` is itself a float32 result (two evaluations, each within the tolerance).
    """
    exact = exact.double()
    error = (actual.double() - exact).abs().max()
    return float(error / (evaluations * float32_tolerance(config, exact.abs().max())))
