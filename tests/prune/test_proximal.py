"""Soft thresholding: exact zeros, and every survivor shrunk by exactly the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from accel.errors import AccelError
from accel.prune import l1_penalty, l1_subgradient, soft_threshold, sparsity


def test_soft_threshold_gives_exact_zeros_and_shrinks_by_the_threshold():
    w = np.random.default_rng(0).normal(size=(64, 32))
    t = 0.5
    out = soft_threshold(w, t)
    small = np.abs(w) <= t
    assert np.all(out[small] == 0.0) and not np.any(np.signbit(out[small]))
    big = ~small
    assert np.array_equal(np.abs(out[big]), np.abs(w[big]) - t)
    assert np.array_equal(np.sign(out[big]), np.sign(w[big]))
    assert sparsity(out) == pytest.approx(np.mean(small))


def test_plain_l1_gradient_steps_do_not_reach_zero_but_the_proximal_step_does():
    w = np.array([0.3, -0.2, 0.05])
    lr, lam = 0.01, 1.0
    sgd, prox = w.copy(), w.copy()
    for _ in range(100):
        sgd = sgd - lr * lam * l1_subgradient(sgd)
        prox = soft_threshold(prox, lr * lam)
    assert sparsity(sgd) == 0.0  # it oscillates around zero
    assert sparsity(prox) == 1.0


def test_integer_input_and_penalty():
    assert soft_threshold(np.array([3, -1, 0], dtype=np.int8), 1).tolist() == [2.0, 0.0, 0.0]
    assert l1_penalty(np.array([[-128, 2]], dtype=np.int8)) == 130.0


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.1"])
def test_threshold_errors_name_the_parameter(bad):
    with pytest.raises(AccelError) as info:
        soft_threshold(np.ones(3), bad)
    assert "threshold" in str(info.value) and repr(bad) in str(info.value)
