"""The central property: the incremental sampler is the parallel forward, one column at a time."""

import numpy as np
import pytest
import torch

from model_core import IncrementalSampler, WaveNetConfig
from model_core.config import doubling
from model_core.generate import generate
from model_core.step_native import native_available

from .conftest import SMALL, make_model

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


def teacher_forced_error(config, backend, batch, seed_length, steps, clock_offset=0, scale=3.0):
    model = make_model(config, scale=scale)
    codes = torch.randint(0, 256, (batch, seed_length + steps))
    speaker = torch.randint(0, config.speakers, (batch,)) if config.speakers else None
    with torch.no_grad():
        reference = model(codes, speaker)
    sampler = IncrementalSampler(model, batch, backend=backend)
    for _ in range(clock_offset):  # streams may join while the shared clock is anywhere
        sampler.step(torch.zeros(batch, dtype=torch.long))
    assert reference.abs().max() > 5  # logits far from flat, so the comparison means something
    error = (sampler.prime(codes[:, :seed_length], speaker) - reference[:, :, seed_length - 1]).abs().max()
    for t in range(seed_length, seed_length + steps - 1):
        error = max(error, (sampler.step(codes[:, t]) - reference[:, :, t]).abs().max())
    return float(error)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("seed_fraction", [0.3, 2.5])
def test_teacher_forced_logits_equal_the_parallel_forward(backend, name, batch, seed_fraction):
    config = CONFIGS[name]
    seed_length = max(1, int(seed_fraction * config.receptive_field))
    steps = 2 * config.receptive_field
    assert teacher_forced_error(config, backend, batch, seed_length, steps, clock_offset=5) <= 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_one_sample_seed_primes_correctly(backend):
    assert teacher_forced_error(SMALL, backend, 2, 1, 60) <= 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stream_does_not_depend_on_its_batch_mates(backend):
    """Bit-identical logits with the native kernel (each row is computed by the same instructions);
    the torch kernel's GEMMs may block differently per batch size, so there within float rounding."""
    model = make_model()
    seed = torch.randint(0, 256, (1, 40))
    alone = IncrementalSampler(model, 1, backend=backend)
    crowd = IncrementalSampler(model, 8, backend=backend)
    a = alone.prime_slots([0], seed)[0]
    for slot in range(8):  # streams are primed one by one, as the service's engine does
        b = crowd.prime_slots([slot], seed if slot == 3 else torch.randint(0, 256, (1, 40)))[0]
        if slot == 3:
            assert torch.equal(a, b)
    tolerance = 0.0 if backend == "native" else 1e-4
    for _ in range(50):
        code = torch.randint(0, 256, (1,))
        a = alone.step(code)[0]
        b = crowd.step(torch.cat([torch.randint(0, 256, (3,)), code, torch.randint(0, 256, (4,))]))[3]
        assert (a - b).abs().max() <= tolerance


def test_priming_one_slot_leaves_the_others_running():
    model = make_model()
    codes = torch.randint(0, 256, (2, 120))
    with torch.no_grad():
        reference = model(codes)
    sampler = IncrementalSampler(model, 2)
    sampler.prime_slots([0], codes[:1, :30])
    for t in range(30, 60):
        logits = sampler.step(torch.stack([codes[0, t], torch.tensor(0)]))
    assert (logits[0] - reference[0, :, 59]).abs().max() <= 1e-4
    sampler.prime_slots([1], codes[1:, :60])  # joins while slot 0 is mid-stream
    for t in range(60, 119):
        logits = sampler.step(codes[:, t])
        assert (logits - reference[:, :, t]).abs().max() <= 1e-4


def test_priming_cost_does_not_grow_past_the_receptive_field():
    """Only the last receptive-field samples can matter, so longer seeds give identical state."""
    model = make_model()
    rf = model.receptive_field
    tail = torch.randint(0, 256, (1, rf))
    short, long = IncrementalSampler(model, 1), IncrementalSampler(model, 1)
    assert torch.allclose(short.prime(tail), long.prime(torch.cat([torch.randint(0, 256, (1, 5000)), tail], 1)),
                          atol=1e-5)
    assert torch.allclose(short.queues, long.queues, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_generation_is_reproducible_from_the_random_seed(backend):
    model = make_model()
    seed = np.random.default_rng(0).integers(0, 256, 50)
    a = generate(model, seed, 300, temperature=0.9, random_seed=7, backend=backend)
    b = generate(model, seed, 300, temperature=0.9, random_seed=7, backend=backend)
    c = generate(model, seed, 300, temperature=0.9, random_seed=8, backend=backend)
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
    with torch.no_grad():
        reference = model(codes)
    sampler = IncrementalSampler(model, 3, backend=backend)
    sampler.prime(codes[:, :30])
    for t in range(30, 50):
        sampler.step(codes[:, t])
    sampler.move_slot(2, 0)  # stream 0 left; stream 2 takes its slot, then only 2 slots are stepped
    for t in range(50, 89):
        logits = sampler.step(torch.stack([codes[2, t], codes[1, t]]))
        assert (logits[0] - reference[2, :, t]).abs().max() <= 1e-4
        assert (logits[1] - reference[1, :, t]).abs().max() <= 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_steps_draws_from_the_logits_it_leaves(backend):
    """The fused draw-and-step loop is the same as drawing from step()'s logits one at a time."""
    from model_core.sampling import counter_uniform, sample_codes

    model = make_model()
    seed = torch.randint(0, 256, (2, 30))
    fused, manual = IncrementalSampler(model, 2, backend=backend), IncrementalSampler(model, 2, backend=backend)
    fused.prime(seed)
    logits = manual.prime(seed)
    temperatures, seeds = np.array([0.8, 1.3]), np.array([5, 6])
    codes = fused.sample_steps(40, temperatures, seeds, np.array([10, 0]))
    for k in range(40):
        drawn = sample_codes(logits, temperatures, counter_uniform(seeds, np.array([10 + k, k])))
        assert np.array_equal(codes[:, k], drawn)
        logits = manual.step(torch.from_numpy(drawn))
    assert torch.allclose(fused.logits, logits, atol=1e-5)
