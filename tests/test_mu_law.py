import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model_core import mu_law_decode, mu_law_encode
from model_core.mu_law import SILENCE_CODE

audio = arrays(np.float64, st.integers(1, 64), elements=st.floats(-1.0, 1.0))
codes = arrays(np.int64, st.integers(1, 64), elements=st.integers(0, 255))
EPS32 = float(np.finfo(np.float32).eps)
"""Decoded levels are float32 in [-1, 1]: each is off from its exact value by at most EPS32 / 2."""


@given(arrays(np.float64, st.integers(1, 64), elements=st.floats(-10.0, 10.0)))
def test_codes_are_always_in_range(x):
    c = mu_law_encode(x)
    assert c.dtype == np.int64 and c.min() >= 0 and c.max() <= 255


@given(audio)
def test_encode_is_monotone(x):
    x = np.sort(x)
    assert (np.diff(mu_law_encode(x)) >= 0).all()


@given(audio)
def test_decode_of_encode_lies_within_the_bin(x):
    c = mu_law_encode(x)
    centre = mu_law_decode(c).astype(np.float64)
    neighbour_gap = np.maximum(mu_law_decode(np.minimum(c + 1, 255)) - centre,
                               centre - mu_law_decode(np.maximum(c - 1, 0)))
    # Slack for the float32 rounding of the three decoded levels involved (<= EPS32 / 2 each at full scale 1).
    assert (np.abs(centre - x) <= neighbour_gap + 4 * EPS32).all()


@given(codes)
def test_encode_inverts_decode(c):
    assert (mu_law_encode(mu_law_decode(c)) == c).all()


@given(audio)
def test_torch_and_numpy_agree(x):
    assert (mu_law_encode(torch.from_numpy(x)).numpy() == mu_law_encode(x)).all()
    c = mu_law_encode(x)
    # Both compute in float64 (libm and torch's expm1 differ by an ulp or two there) and round once to
    # float32, so they agree to one float32 ulp: <= EPS32 relative (no level is near 0: the smallest is 8.6e-5).
    assert np.allclose(mu_law_decode(torch.from_numpy(c)).numpy(), mu_law_decode(c), rtol=2 * EPS32, atol=0)


def test_fixed_points():
    assert mu_law_encode(np.array([-1.0, 0.0, 1.0])).tolist() == [0, SILENCE_CODE, 255]
    # Not a rounding tolerance: silence decodes to the smallest level, (256 ** (1 / 255) - 1) / 255 = 8.6e-5.
    assert abs(mu_law_decode(np.array([SILENCE_CODE]))[0]) < 1e-4
