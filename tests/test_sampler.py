"""The central property: the incremental sampler is the parallel forward, one column at a time.

"Is" means: both are float32 evaluations of the same function, so both must lie within float32 rounding of
its exact (float64) value; tests/float_tolerance.py derives that bound and why it is relative to the logits'
scale. Every test here runs with 1 and 2 torch threads (and the machine's default), since GEMMs block their
sums differently per thread count.
"""

import dataclasses

import numpy as np
import pytest
import torch

from model_core import IncrementalSampler, WaveNetConfig
from model_core.config import doubling
from model_core.inference.draws import StreamParams
from model_core.inference.generate import generate
from model_core.inference.kernels import make_step_kernel
from model_core.inference.kernels.native import native_available

from .conftest import SMALL, make_model
from .float_tolerance import error_ratio, exact_logits

BACKENDS = ["torch", pytest.param("native", marks=pytest.mark.skipif(not native_available(),
                                                                    reason="native kernel not built"))]
CONFIGS = {
    "small": SMALL,
    "kernel3": WaveNetConfig(residual_channels=8, gate_channels=12, skip_channels=8, head_channels=16,
                             kernel_size=3, dilation_cycle=(1, 2, 4), stacks=2),
    "reference-shape": WaveNetConfig(residual_channels=16, gate_channels=32, skip_channels=16,
                                     head_channels=32, dilation_cycle=doubling(64), stacks=2),
    "speakers": WaveNetConfig(residual_channels=8, gate_channels=16, skip_channels=8, head_channels=16,
                              dilation_cycle=doubling(8), stacks=1, speakers=4),
}
THREADS = sorted({1, 2, torch.get_num_threads()})


@pytest.fixture(autouse=True, params=THREADS, ids=lambda n: f"threads{n}")
def torch_threads(request):
    """Run every test of this file under each thread count: float32 GEMMs round differently per count."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def teacher_forced_ratios(config, backend, batch, seed_length, steps, clock_offset=0, scale=3.0, sabotage=None):
    """Prime on codes[:, :seed_length], then feed codes[:, t] one step at a time -> (incremental, parallel).

    Each is the largest error, over the same columns, of the sampler's logits and of the float32 parallel
    forward's against the float64 forward, in units of float32_tolerance: <= 1 passes. `sabotage(sampler)`,
    called after the prime, lets a test plant a bug to show that the criterion catches it.
    """
    model = make_model(config, scale=scale)
    codes = torch.randint(0, 256, (batch, seed_length + steps))
    speaker = torch.randint(0, config.speakers, (batch,)) if config.speakers else None
    columns = slice(seed_length - 1, seed_length + steps - 1)
    exact = exact_logits(model, codes, speaker)[:, :, columns]
    with torch.no_grad():
        parallel = model(codes, speaker)[:, :, columns]
    assert exact.abs().max() > 5  # logits far from flat, so that a wrong input shows in them
    sampler = IncrementalSampler(model, batch, backend=backend)
    for _ in range(clock_offset):  # streams may join while the shared clock is anywhere
        sampler.step(torch.zeros(batch, dtype=torch.long))
    incremental = [sampler.prime(codes[:, :seed_length], speaker)]
    if sabotage is not None:
        sabotage(sampler)
    for t in range(seed_length, seed_length + steps - 1):
        incremental.append(sampler.step(codes[:, t]))
    incremental = torch.stack(incremental, dim=2)
    return error_ratio(incremental, exact, config), error_ratio(parallel, exact, config)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("seed_fraction", [0.3, 2.5])
def test_teacher_forced_logits_equal_the_parallel_forward(backend, name, batch, seed_fraction):
    config = CONFIGS[name]
    seed_length = max(1, int(seed_fraction * config.receptive_field))
    steps = 2 * config.receptive_field
    incremental, parallel = teacher_forced_ratios(config, backend, batch, seed_length, steps, clock_offset=5)
    assert incremental <= 1 and parallel <= 1, f"error / float32 tolerance: incremental {incremental:.3g}, " \
                                                f"parallel {parallel:.3g}"


def read_taps_one_slot_late(layer):
    """A planted bug: the step kernel reads `layer`'s taps at (t - m*(d+1)) mod (K-1)d instead of
    (t - m*d), i.e. its nearest tap is one slot off, while queue writes and the prime stay right."""
    def sabotage(sampler):
        weights = sampler.weights
        dilations = tuple(d + (i == layer % len(weights.dilations)) for i, d in enumerate(weights.dilations))
        sampler.kernel = make_step_kernel(dataclasses.replace(weights, dilations=dilations), sampler.device,
                                          sampler.kernel.name)
    return sabotage


def clock_one_tick_ahead(sampler):
    """A planted bug: the prime writes the history one ring slot off from where the steps read it."""
    sampler.time += 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("bug", ["last-layer-tap-read", "prime-clock"])
def test_the_criterion_rejects_an_off_by_one_queue_index(backend, name, bug):
    """The tolerance is loose enough for any CPU's rounding, but a queue index off by one slot, in a single
    layer (the last, where it matters least) or in the prime, must still fail it by far (measured: 1.4e4
    times or more; asserted: 100 times)."""
    config = CONFIGS[name]
    sabotage = read_taps_one_slot_late(-1) if bug == "last-layer-tap-read" else clock_one_tick_ahead
    rf = config.receptive_field
    incremental, parallel = teacher_forced_ratios(config, backend, 2, rf + 3, rf, sabotage=sabotage)
    assert parallel <= 1
    assert incremental > 100, f"a planted off-by-one gave only {incremental:.3g} times the float32 tolerance"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_one_sample_seed_primes_correctly(backend):
    assert max(teacher_forced_ratios(SMALL, backend, 2, 1, 60)) <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stream_does_not_depend_on_its_batch_mates(backend):
    """Bit-identical logits with the native kernel (each row is computed by the same instructions);
    the torch kernel's GEMMs may block differently per batch size, so there within float rounding: twice
    the float32 tolerance (two float32 evaluations of one function), at the scale of these logits."""
    model = make_model()
    seed = torch.randint(0, 256, (1, 40))
    alone = IncrementalSampler(model, 1, backend=backend)
    crowd = IncrementalSampler(model, 8, backend=backend)
    a = alone.prime_slots([0], seed)[0]
    for slot in range(8):  # streams are primed one by one, as the service's engine does
        b = crowd.prime_slots([slot], seed if slot == 3 else torch.randint(0, 256, (1, 40)))[0]
        if slot == 3:
            assert torch.equal(a, b)
    alone_logits, crowd_logits = [], []
    for _ in range(50):
        code = torch.randint(0, 256, (1,))
        alone_logits.append(alone.step(code)[0])
        crowd_logits.append(crowd.step(torch.cat([torch.randint(0, 256, (3,)), code, torch.randint(0, 256, (4,))]))[3])
        if backend == "native":
            assert torch.equal(alone_logits[-1], crowd_logits[-1])
    assert error_ratio(torch.stack(crowd_logits), torch.stack(alone_logits), SMALL, evaluations=2) <= 1


def test_priming_one_slot_leaves_the_others_running():
    model = make_model()
    codes = torch.randint(0, 256, (2, 120))
    exact = exact_logits(model, codes)
    sampler = IncrementalSampler(model, 2)
    sampler.prime_slots([0], codes[:1, :30])
    for t in range(30, 60):
        logits = sampler.step(torch.stack([codes[0, t], torch.tensor(0)]))
    assert error_ratio(logits[0], exact[0, :, 59], SMALL) <= 1
    sampler.prime_slots([1], codes[1:, :60])  # joins while slot 0 is mid-stream
    logits = torch.stack([sampler.step(codes[:, t]) for t in range(60, 119)], dim=2)
    assert error_ratio(logits, exact[:, :, 60:119], SMALL) <= 1


def test_priming_cost_does_not_grow_past_the_receptive_field():
    """Only the last receptive-field samples can matter, so longer seeds give the same state: within twice
    the float32 tolerance (two float32 evaluations), at the scale of the logits and of the queued
    activations respectively (the queues hold layer inputs, at most 2 * layers GEMMs deep)."""
    model = make_model()
    rf = model.receptive_field
    tail = torch.randint(0, 256, (1, rf))
    short, long = IncrementalSampler(model, 1), IncrementalSampler(model, 1)
    short_logits = short.prime(tail)
    long_logits = long.prime(torch.cat([torch.randint(0, 256, (1, 5000)), tail], 1))
    assert error_ratio(long_logits, short_logits, SMALL, evaluations=2) <= 1
    assert error_ratio(long.queues, short.queues, SMALL, evaluations=2) <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_generation_is_reproducible_from_the_random_seed(backend):
    model = make_model()
    seed = np.random.default_rng(0).integers(0, 256, 50)
    a = generate(model, seed, 300, StreamParams(0.9, 7), backend=backend)
    b = generate(model, seed, 300, StreamParams(0.9, 7), backend=backend)
    c = generate(model, seed, 300, StreamParams(0.9, 8), backend=backend)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 255


def test_bad_shapes_are_rejected():
    sampler = IncrementalSampler(make_model(), 2)
    with pytest.raises(ValueError):
        sampler.prime(torch.zeros(3, 10, dtype=torch.long))
    with pytest.raises(ValueError):
        sampler.step(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError):
        IncrementalSampler(make_model(), 1, backend="gpu-magic")


@pytest.mark.parametrize("backend", BACKENDS)
def test_live_streams_can_be_compacted_into_the_first_slots(backend):
    model = make_model()
    codes = torch.randint(0, 256, (3, 90))
    exact = exact_logits(model, codes)
    sampler = IncrementalSampler(model, 3, backend=backend)
    sampler.prime(codes[:, :30])
    for t in range(30, 50):
        sampler.step(codes[:, t])
    sampler.move_slot(2, 0)  # stream 0 left; stream 2 takes its slot, then only 2 slots are stepped
    logits = torch.stack([sampler.step(torch.stack([codes[2, t], codes[1, t]])) for t in range(50, 89)], dim=2)
    assert error_ratio(logits, exact[[2, 1], :, 50:89], SMALL) <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_steps_draws_from_the_logits_it_leaves(backend):
    """The fused draw-and-step loop is the same as drawing from step()'s logits one at a time.

    The native kernel's fused loop runs the very step code, so its logits are bit-identical; the torch
    kernel's within twice the float32 tolerance (two float32 evaluations; BLAS may pick its kernel per call).
    """
    from model_core.inference.draws import counter_uniform, sample_codes

    model = make_model()
    seed = torch.randint(0, 256, (2, 30))
    fused, manual = IncrementalSampler(model, 2, backend=backend), IncrementalSampler(model, 2, backend=backend)
    temperatures, seeds = np.array([0.8, 1.3]), np.array([5, 6])
    fused.prime_slots([0, 1], seed, params=[StreamParams(0.8, 5), StreamParams(1.3, 6)])
    logits = manual.prime(seed)
    # Two calls continue one stream's counter: the same draws as one call of 40.
    codes = np.concatenate([fused.sample_steps(10, 2), fused.sample_steps(30, 2)], axis=1)
    assert fused.draws.tolist() == [40, 40]
    for k in range(40):
        drawn = sample_codes(logits, temperatures, counter_uniform(seeds, np.array([k, k])))
        assert np.array_equal(codes[:, k], drawn.numpy())
        logits = manual.step(drawn)
    if backend == "native":
        assert torch.equal(fused.logits, logits)
    assert error_ratio(fused.logits, logits, SMALL, evaluations=2) <= 1


@pytest.mark.skipif(not native_available(), reason="native kernel not built")
def test_a_kernel_library_of_another_abi_is_refused_and_auto_falls_back(monkeypatch, caplog):
    from model_core.inference.kernels import native
    from model_core.inference.kernels.native import NativeKernelUnavailable

    monkeypatch.setattr(native, "ABI_VERSION", native.ABI_VERSION + 1)
    model = make_model()
    with pytest.raises(NativeKernelUnavailable, match="ABI version"):
        IncrementalSampler(model, 1, backend="native")
    assert IncrementalSampler(model, 1, backend="auto").kernel.name == "torch"
    assert "using the torch kernel" in caplog.text


def test_auto_kernel_choice_measures_every_candidate_and_takes_the_fastest(monkeypatch):
    from model_core.inference import kernel_choice

    model = make_model()
    device, backend, rates = kernel_choice.fastest_kernel(model, slots=2)
    assert set(rates) == {f"{d}/{b}" for d, b in kernel_choice.candidates()} and min(rates.values()) > 0
    assert rates[f"{device.type}/{backend}"] == max(rates.values())

    fake = {("cpu", "torch"): 9e9, ("cpu", "native"): 1.0}
    monkeypatch.setattr(kernel_choice, "generation_rate", lambda m, d, b, slots, threads=None: fake[(d, b)])
    monkeypatch.setattr(kernel_choice, "candidates", lambda: list(fake))
    assert kernel_choice.fastest_kernel(model, slots=2)[:2] == (torch.device("cpu"), "torch")


def test_usable_cores_follow_a_cgroup_cpu_quota(tmp_path):
    import os

    from model_core.device import usable_cores

    affinity = len(os.sched_getaffinity(0))
    limit = tmp_path / "cpu.max"
    limit.write_text("max 100000\n")
    assert usable_cores(limit) == affinity
    limit.write_text("50000 100000\n")  # half a core: still one thread
    assert usable_cores(limit) == 1
    limit.write_text(f"{100000 * (affinity + 3)} 100000\n")  # a quota above the affinity: the affinity
    assert usable_cores(limit) == affinity
    assert usable_cores(tmp_path / "absent") == affinity


@pytest.mark.skipif(not native_available(), reason="native kernel not built")
def test_auto_kernel_choice_leaves_out_a_kernel_library_of_another_abi(monkeypatch):
    from model_core.inference import kernel_choice
    from model_core.inference.kernels import native

    monkeypatch.setattr(native, "ABI_VERSION", native.ABI_VERSION + 1)
    device, backend, rates = kernel_choice.fastest_kernel(make_model(), slots=2)
    assert "cpu/native" not in rates and (device.type, backend) in {("cpu", "torch"), ("cuda", "torch")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_slot_draws_with_its_own_counter(backend):
    """A stream that joins later starts its draws at counter 0 while its batch mate goes on counting."""
    from model_core.inference.draws import counter_uniform, sample_codes

    model = make_model()
    seeds = torch.randint(0, 256, (2, 30))
    sampler = IncrementalSampler(model, 2, backend=backend)
    sampler.prime_slots([0], seeds[:1], params=[StreamParams(0.9, 5)])
    first = sampler.sample_steps(10, 1)[0]
    sampler.prime_slots([1], seeds[1:], params=[StreamParams(1.2, 6)])
    both = sampler.sample_steps(30, 2)
    assert sampler.draws.tolist() == [40, 30]

    alone = IncrementalSampler(model, 1, backend=backend)
    for slot, (params, expected) in enumerate([(StreamParams(0.9, 5), np.r_[first, both[0]]),
                                               (StreamParams(1.2, 6), both[1])]):
        logits = alone.prime(seeds[slot:slot + 1])
        for k, code in enumerate(expected):
            drawn = sample_codes(logits, [params.temperature], counter_uniform([params.random_seed], [k]))
            assert int(drawn[0]) == code, (slot, k)
            logits = alone.step(drawn)


def test_prime_macs_counts_the_gemms_a_prime_runs():
    """The figure make bench quotes the prime against: every multiply-add torch counts in a real prime, of a
    seed longer than the receptive field (shorter seeds run the same cone)."""
    from torch.utils.flop_counter import FlopCounterMode

    sampler = IncrementalSampler(make_model(CONFIGS["reference-shape"]), 1)
    for length in (3, 3 * sampler.config.receptive_field):
        with FlopCounterMode(display=False) as counter:
            sampler.prime(torch.randint(0, 256, (1, length)))
        assert counter.get_total_flops() == 2 * sampler.prime_macs
