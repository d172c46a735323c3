"""Rounds of steps replayed from CUDA graphs: one launch per round instead of ~10 kernels per layer per step.

At this model's sizes a GPU step is a few microseconds of arithmetic behind a hundred kernel launches, so
launches bound the eager torch kernel. A graph is captured per batch-size bucket (powers of two) and per
round length (powers of two: a round of 40 replays the 32- and the 8-step graphs), over static buffers
that this class owns. Each round copies the live streams' state in (rows 0..n-1 of the bucket), replays,
and copies it back, so streams join and leave between rounds and the sampler stays the one owner of their
state; rows n..bucket-1 compute on stale data that nothing reads.

Captures happen before the round's state is copied in, so a capture that fails (or its warm-up, which runs
the round on the static buffers) never touches a live stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from model_core.inference.kernels.torch_kernel import TorchStep


class Replayable(Protocol):
    def replay(self) -> None: ...


Capture = Callable[[Callable[[], None]], Replayable]
"""Records a round (a function of the static buffers) -> something that runs it again on their contents."""


def capture_cuda_graph(round_fn: Callable[[], None]) -> Replayable:
    """PyTorch's recipe (torch.cuda.graphs): warm up on a side stream (cuBLAS handles, allocator), then
    capture on it; a graph records device work only, so round_fn must not synchronise with the host."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            round_fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        round_fn()
    return graph


def bucket_of(n: int) -> int:
    """The graph batch size that serves n live streams: the next power of two."""
    return 1 << (n - 1).bit_length()


def round_pieces(steps: int) -> list[int]:
    """A round's length as captured lengths, largest first: 40 -> [32, 8]."""
    return [1 << bit for bit in range(steps.bit_length() - 1, -1, -1) if steps >> bit & 1]


@dataclass
class _Buffers:
    """A bucket's static state: the addresses its graphs read and write."""

    logits: torch.Tensor  # (bucket, C)
    temperatures: torch.Tensor  # (bucket,) float64
    seeds: torch.Tensor  # (bucket,) int64
    first: torch.Tensor  # (bucket,) int64, the counter of each row's next draw
    gate_bias: torch.Tensor  # (bucket, layers, G)
    queues: torch.Tensor  # (bucket, Q, R)
    time: torch.Tensor  # () int64


class GraphedRounds:
    """TorchStep.run_round replayed from graphs; `capture` is the CUDA one except in the CPU suite, where
    an eager stand-in exercises the same buffers, buckets and pieces."""

    def __init__(self, kernel: TorchStep, capture: Capture = capture_cuda_graph) -> None:
        self.kernel = kernel
        self.capture = capture
        self._buffers: dict[int, _Buffers] = {}
        self._graphs: dict[tuple[int, int], tuple[Replayable, torch.Tensor]] = {}

    def run(self, logits: torch.Tensor, temperatures: torch.Tensor, seeds: torch.Tensor, first: torch.Tensor,
            gate_bias: torch.Tensor, queues: torch.Tensor, time: int, steps: int) -> torch.Tensor:
        """The contract of TorchStep.run_round for live rows 0..n-1 -> codes (n, steps) on the device."""
        n = logits.shape[0]
        bucket = bucket_of(n)
        pieces = round_pieces(steps)
        buffers = self._buffers.get(bucket) or self._allocate(bucket, logits, gate_bias, queues)
        graphs = [self._graph(bucket, piece, buffers) for piece in pieces]  # before the state goes in
        buffers.logits[:n] = logits
        buffers.temperatures[:n] = temperatures
        buffers.seeds[:n] = seeds
        buffers.first[:n] = first
        buffers.gate_bias[:n] = gate_bias
        buffers.queues[:n] = queues
        buffers.time.fill_(time)
        codes = []
        for piece, (graph, out) in zip(pieces, graphs, strict=True):
            graph.replay()
            codes.append(out[:n])  # each piece has its own graph and buffer; the cat below copies them
            buffers.first += piece
            buffers.time += piece
        logits.copy_(buffers.logits[:n])
        queues.copy_(buffers.queues[:n])
        return torch.cat(codes, dim=1)

    def _allocate(self, bucket: int, logits: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor) -> _Buffers:
        device = logits.device
        buffers = _Buffers(
            logits=torch.zeros((bucket, *logits.shape[1:]), device=device),
            temperatures=torch.ones(bucket, dtype=torch.float64, device=device),
            seeds=torch.zeros(bucket, dtype=torch.int64, device=device),
            first=torch.zeros(bucket, dtype=torch.int64, device=device),
            gate_bias=torch.zeros((bucket, *gate_bias.shape[1:]), device=device),
            queues=torch.zeros((bucket, *queues.shape[1:]), device=device),
            time=torch.zeros((), dtype=torch.int64, device=device))
        self._buffers[bucket] = buffers
        return buffers

    def _graph(self, bucket: int, steps: int, b: _Buffers) -> tuple[Replayable, torch.Tensor]:
        key = (bucket, steps)
        if key not in self._graphs:
            out = torch.zeros((bucket, steps), dtype=torch.int64, device=b.logits.device)
            graph = self.capture(lambda: self.kernel.run_round(out, b.logits, b.temperatures, b.seeds, b.first,
                                                               b.gate_bias, b.queues, b.time))
            self._graphs[key] = graph, out
        return self._graphs[key]
