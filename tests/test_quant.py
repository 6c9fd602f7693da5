"""Quantisation keeps zeros zero (what the array skips), stays in range and is accurate
to half a step; bad arguments are user errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accel.errors import AccelError
from accel.quant import activation_scale, qmax, quantize, quantize_acts, quantize_weights

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 20)), elements=finite))
def test_weights_zero_exact_range_and_error(w):
    q, scale = quantize_weights(w, 8)
    assert q.dtype == np.int64 and q.shape == w.shape
    assert np.all(q[w == 0] == 0)
    assert np.all(np.abs(q) <= 127)
    err = np.abs(q * scale[:, None] - w)
    assert np.all(err <= scale[:, None] / 2 + 1e-6 * np.abs(w))
    # each nonzero channel's peak maps to the end of the range
    peaks = np.abs(w).max(axis=1)
    assert np.all(np.abs(q[peaks > 0]).max(axis=1) == 127)


def test_weights_pruned_channel_and_conv_layout():
    w = np.ones((3, 2, 3, 3))
    w[1] = 0.0
    w[2] *= -0.5
    q, scale = quantize_weights(w, 4)
    assert scale.tolist() == [1 / 7, 1.0, 0.5 / 7]
    assert np.all(q[0] == 7) and np.all(q[1] == 0) and np.all(q[2] == -7)


def test_round_half_away_from_zero():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49])
    assert quantize(x, 1.0, 8).tolist() == [1, 2, 3, -1, -3, 0]


def test_acts_scale_from_calibration_and_saturation():
    calib = np.array([0.0, 1.0, -2.54, 0.3])
    s = activation_scale(calib, 8)
    assert s == pytest.approx(2.54 / 127)
    q = quantize_acts(np.array([0.0, 2.54, 10.0, -10.0]), s, 8)
    assert q.tolist() == [0, 127, 127, -127]
    # a percentile below 100 ignores the outlier
    data = np.r_[np.full(999, 1.0), 1000.0]
    assert activation_scale(data, 8, percentile=99.0) == pytest.approx(1 / 127)
    assert activation_scale(np.zeros(4)) == 1.0


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: qmax(1), "bits must be an integer in 2..32, not 1"),
        (lambda: qmax(True), "not True"),
        (lambda: quantize(np.ones(2), 0.0, 8), "positive and finite"),
        (lambda: quantize_weights(np.array([[np.nan]])), "NaN"),
        (lambda: activation_scale(np.ones(3), percentile=0), "percentile must be in"),
        (lambda: activation_scale(np.array([])), "non-empty"),
    ],
)
def test_errors_name_the_argument(call, fragment):
    with pytest.raises(AccelError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call()
