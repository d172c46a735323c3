"""Rounds of steps replayed from CUDA graphs: one launch per 8 steps instead of ~10 kernels per layer per step.

At this model's sizes a GPU step is a few microseconds of arithmetic behind a couple of hundred kernel
launches, so launches bound the eager torch kernel. One graph of PIECE steps is captured per batch-size
bucket (powers of two) over static buffers that this class owns, and a round replays it as often as it
fits (a round of 40: five times); a shorter tail runs eagerly on the same buffers. Each round copies the
live streams' state in (rows 0..n-1 of the bucket), replays, and copies it back, so streams join and leave
between rounds and the sampler stays the one owner of their state; rows n..bucket-1 compute on stale data
that nothing reads.

A bucket's graph is captured the first time a round of at least PIECE steps needs it (the engine's
warm-up runs every bucket up to its slot count), before that round's state is copied in, so a capture that
fails (or its warm-up, which runs the round on the static buffers) never touches a live stream. Captures
are serialised process-wide, each on its runner's own stream in thread-local error mode, so engine threads
working on the same device meanwhile neither break it nor are recorded into it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from model_core.inference.kernels.torch_kernel import TorchStep

PIECE = 8
"""Steps per graph: long enough that one launch is nothing beside its ~1,600 kernels, short enough that a
round's tail (run eagerly) is short and that a graph stays small."""


class CaptureFailed(RuntimeError):
    """A graph could not be captured; the live state was not touched."""


class Replayable(Protocol):
    def replay(self) -> None: ...


Capture = Callable[[Callable[[], None]], Replayable]
"""Records a round (a function of the static buffers) -> something that runs it again on their contents."""

_capturing = threading.Lock()


def capture_cuda_graph(round_fn: Callable[[], None]) -> Replayable:
    """PyTorch's recipe (torch.cuda.graphs): warm up on a side stream (cuBLAS handles, allocator), then
    capture on it. round_fn must not synchronise with the host. The outer stream context puts the caller's
    stream back even when the capture fails (torch.cuda.graph leaves it set when capture_end raises)."""
    with _capturing:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                round_fn()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                round_fn()
        torch.cuda.current_stream().wait_stream(side)
        return graph


def bucket_of(n: int) -> int:
    """The graph batch size that serves n live streams: the next power of two."""
    return 1 << (n - 1).bit_length()


@dataclass
class _Buffers:
    """A bucket's static state: the addresses its graph reads and writes."""

    logits: torch.Tensor  # (bucket, C)
    temperatures: torch.Tensor  # (bucket,) float64
    seeds: torch.Tensor  # (bucket,) int64
    first: torch.Tensor  # (bucket,) int64, the counter of each row's next draw
    gate_bias: torch.Tensor  # (bucket, layers, G)
    queues: torch.Tensor  # (bucket, Q, R)
    time: torch.Tensor  # () int64
    out: torch.Tensor  # (bucket, PIECE) int64, the codes of the last replay


class GraphedRounds:
    """TorchStep.run_round replayed from graphs; `capture` is the CUDA one except in the CPU suite, where
    an eager stand-in exercises the same buffers, buckets and pieces."""

    def __init__(self, kernel: TorchStep, capture: Capture = capture_cuda_graph) -> None:
        self.kernel = kernel
        self.capture = capture
        self._buffers: dict[int, _Buffers] = {}
        self._graphs: dict[int, Replayable] = {}

    def run(self, logits: torch.Tensor, temperatures: torch.Tensor, seeds: torch.Tensor, first: torch.Tensor,
            gate_bias: torch.Tensor, queues: torch.Tensor, time: int, steps: int) -> torch.Tensor:
        """The contract of TorchStep.run_round for live rows 0..n-1 -> codes (n, steps) on the device.
        Raises CaptureFailed, before any state is copied, when a graph cannot be made."""
        n = logits.shape[0]
        bucket = bucket_of(n)
        b = self._buffers.get(bucket) or self._allocate(bucket, logits, gate_bias, queues)
        replays, tail = divmod(steps, PIECE)
        graph = self._graph(bucket, b) if replays else None
        b.logits[:n] = logits
        b.temperatures[:n] = temperatures
        b.seeds[:n] = seeds
        b.first[:n] = first
        b.gate_bias[:n] = gate_bias
        b.queues[:n] = queues
        b.time.fill_(time)
        codes = []
        for _ in range(replays):
            graph.replay()
            codes.append(b.out[:n].clone())  # the next replay writes the same buffer
            b.first += PIECE
            b.time += PIECE
        if tail:
            out = torch.empty((bucket, tail), dtype=torch.int64, device=logits.device)
            self.kernel.run_round(out, b.logits, b.temperatures, b.seeds, b.first, b.gate_bias, b.queues, b.time)
            codes.append(out[:n])
        logits.copy_(b.logits[:n])
        queues.copy_(b.queues[:n])
        return torch.cat(codes, dim=1)

    def _allocate(self, bucket: int, logits: torch.Tensor, gate_bias: torch.Tensor, queues: torch.Tensor) -> _Buffers:
        device = logits.device
        buffers = _Buffers(
            logits=torch.zeros((bucket, *logits.shape[1:]), dtype=logits.dtype, device=device),
            temperatures=torch.ones(bucket, dtype=torch.float64, device=device),
            seeds=torch.zeros(bucket, dtype=torch.int64, device=device),
            first=torch.zeros(bucket, dtype=torch.int64, device=device),
            gate_bias=torch.zeros((bucket, *gate_bias.shape[1:]), dtype=gate_bias.dtype, device=device),
            queues=torch.zeros((bucket, *queues.shape[1:]), dtype=queues.dtype, device=device),
            time=torch.zeros((), dtype=torch.int64, device=device),
            out=torch.zeros((bucket, PIECE), dtype=torch.int64, device=device))
        self._buffers[bucket] = buffers
        return buffers

    def _graph(self, bucket: int, b: _Buffers) -> Replayable:
        if bucket not in self._graphs:
            try:
                self._graphs[bucket] = self.capture(lambda: self.kernel.run_round(
                    b.out, b.logits, b.temperatures, b.seeds, b.first, b.gate_bias, b.queues, b.time))
            except RuntimeError as error:
                raise CaptureFailed(str(error)) from error
        return self._graphs[bucket]
