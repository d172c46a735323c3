import numpy as np
import torch

from model_core.inference.draws import counter_uniform, sample_codes


def test_counter_uniform_is_a_pure_function_of_seed_and_counter():
    u = counter_uniform(np.array([1, 1, 2]), np.array([5, 5, 5]))
    assert u[0] == u[1] != u[2]
    assert ((0 <= u) & (u < 1)).all()


def test_counter_uniform_is_splitmix64_bit_for_bit():
    """Values of SplitMix64's finaliser over (seed, counter) computed in uint64 arithmetic (the numpy
    implementation this replaced, and the C kernel's): the int64 version must wrap and shift the same."""
    u = counter_uniform(np.array([0, 1, 2**63 - 1, 12345]), np.array([0, 7, 3, 2**40]))
    assert u.tolist() == [0.7497482413580301, 0.24696520214533768, 0.7379344711502928, 0.5183875325961317]


def test_counter_uniform_looks_uniform():
    u = counter_uniform(np.full(100_000, 3), np.arange(100_000))
    hist, _ = np.histogram(u.numpy(), bins=10, range=(0, 1))
    assert abs(u.mean() - 0.5) < 0.01 and hist.min() > 9_500


def test_sample_codes_follows_the_distribution():
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).expand(20_000, 3)
    codes = sample_codes(logits, np.ones(20_000), counter_uniform(np.zeros(20_000), np.arange(20_000)))
    freq = np.bincount(codes.numpy(), minlength=3) / 20_000
    assert np.allclose(freq, [0.1, 0.2, 0.7], atol=0.015)


def test_low_temperature_approaches_argmax_and_high_flattens():
    logits = torch.tensor([[0.0, 1.0, 3.0]]).expand(5000, 3)
    u = counter_uniform(np.zeros(5000), np.arange(5000))
    assert (sample_codes(logits, np.full(5000, 0.05), u) == 2).all()
    assert np.bincount(sample_codes(logits, np.full(5000, 100.0), u).numpy(), minlength=3).min() > 1400
