"""Rounds replayed from CUDA graphs (model_core/inference/kernels/cuda_graphs.py).

On CPU the capture is replaced by an eager stand-in that, like the real capture's warm-up, runs the round
once on the static buffers when it records it: everything but the CUDA graph itself (buckets, pieces,
static buffers, replays and eager tails, state copied in and out, streams joining and leaving between
rounds) runs here. The CUDA test at the end runs the real capture where a GPU is present.
"""

import numpy as np
import pytest
import torch

from model_core import IncrementalSampler
from model_core.inference.draws import StreamParams
from model_core.inference.kernels.cuda_graphs import PIECE, bucket_of
from model_core.inference.kernels.torch_kernel import TorchStep

from .conftest import SMALL, make_model
from .float_tolerance import error_ratio


class EagerRound:
    """Stands in for torch.cuda.CUDAGraph: records the round by running it (as the capture's warm-up
    does, on the static buffers), and replays it by running it again."""

    captures = 0

    def __init__(self, round_fn):
        type(self).captures += 1
        self.round_fn = round_fn
        round_fn()

    def replay(self):
        self.round_fn()


def scenario(sampler):
    """Streams join, leave and are compacted between rounds of whole pieces, with and without a tail, and
    shorter than a piece -> codes."""
    assert PIECE == 8  # the comments below count in pieces of 8
    seeds = torch.randint(0, 256, (5, 40), generator=torch.Generator().manual_seed(1))
    params = [StreamParams(0.7 + 0.2 * i, 100 + i) for i in range(5)]
    codes = []
    sampler.prime_slots([0, 1, 2], seeds[:3], params=params[:3])
    codes.append(sampler.sample_steps(40, 3))  # bucket 4: five replays
    sampler.prime_slots([3, 4], seeds[3:], params=params[3:])
    codes.append(sampler.sample_steps(37, 5))  # bucket 8: four replays and a tail of 5
    sampler.move_slot(4, 0)  # stream 0 ends; stream 4 takes its slot
    codes.append(sampler.sample_steps(40, 4))  # bucket 4 again: its graph is reused
    codes.append(sampler.sample_steps(3, 1))  # bucket 1: a tail only, no graph
    codes.append(sampler.sample_steps(9, 1))  # bucket 1: one replay and a tail of 1
    return codes


def test_rounds_from_graphs_draw_what_eager_rounds_draw():
    """Bucketed rounds compute rows nobody reads and GEMMs of another height, so logits agree within twice
    the float32 tolerance (two float32 evaluations), and every drawn code is the same."""
    model = make_model()
    eager = IncrementalSampler(model, 8, backend="torch")
    graphed = IncrementalSampler(model, 8, backend="torch")
    graphed.kernel = TorchStep(graphed.weights, graphs=True, capture=EagerRound)
    EagerRound.captures = 0
    expected, got = scenario(eager), scenario(graphed)
    for a, b in zip(expected, got, strict=True):
        assert np.array_equal(a, b)
    assert graphed.draws.tolist() == eager.draws.tolist()
    assert error_ratio(graphed.logits[:1], eager.logits[:1], SMALL, evaluations=2) <= 1
    assert error_ratio(graphed.queues[:1], eager.queues[:1], SMALL, evaluations=2) <= 1
    assert EagerRound.captures == 3  # buckets 4, 8 and 1, each captured once


def test_a_failed_capture_leaves_the_streams_intact_and_falls_back_to_eager_rounds(caplog):
    def failing_capture(round_fn):
        round_fn()  # the warm-up ran on the static buffers before the capture failed
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    model = make_model()
    eager = IncrementalSampler(model, 4, backend="torch")
    broken = IncrementalSampler(model, 4, backend="torch")
    broken.kernel = TorchStep(broken.weights, graphs=True, capture=failing_capture)
    for sampler in (eager, broken):
        sampler.prime_slots([0, 1], torch.randint(0, 256, (2, 30), generator=torch.Generator().manual_seed(2)),
                            params=[StreamParams(1.0, 1), StreamParams(1.0, 2)])
    assert np.array_equal(eager.sample_steps(20, 2), broken.sample_steps(20, 2))
    assert "running rounds eagerly" in caplog.text
    assert np.array_equal(eager.sample_steps(20, 2), broken.sample_steps(20, 2))


def test_buckets_are_powers_of_two():
    assert [bucket_of(n) for n in (1, 2, 3, 4, 5, 8, 9, 256)] == [1, 2, 4, 4, 8, 8, 16, 256]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_rounds_draw_what_eager_cuda_rounds_draw():
    model = make_model().cuda()
    eager = IncrementalSampler(model, 8, backend="torch")
    eager.kernel = TorchStep(eager.weights, graphs=False)
    graphed = IncrementalSampler(model, 8, backend="torch")
    assert graphed.kernel._graphs is not None  # graphs by default on CUDA
    for a, b in zip(scenario(eager), scenario(graphed), strict=True):
        assert np.array_equal(a, b)
