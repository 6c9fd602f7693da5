"""The hand-written backward pass agrees with finite differences, parameter by parameter."""

from __future__ import annotations

import numpy as np
import pytest

from accel.errors import AccelError
from accel.train import lenet


def _params64(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {k: v.astype(np.float64) for k, v in lenet.init_params(seed).items()}
    for k in params:
        if k.endswith(".bias"):  # nonzero biases, so their gradients are exercised too
            params[k] = rng.standard_normal(params[k].shape) * 0.1
    return params


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    params = _params64(1)
    x = rng.random((3, 1, 28, 28))
    y = np.array([1, 7, 3])
    _, grads = lenet.loss_and_grads(params, x, y)
    assert set(grads) == set(params)
    eps = 1e-5
    for key, value in params.items():
        assert grads[key].shape == value.shape
        for _ in range(4):
            idx = tuple(int(rng.integers(0, n)) for n in value.shape)
            shifted = []
            for sign in (1, -1):
                p = dict(params)
                p[key] = value.copy()
                p[key][idx] += sign * eps
                shifted.append(lenet.loss_and_grads(p, x, y)[0])
            numeric = (shifted[0] - shifted[1]) / (2 * eps)
            assert grads[key][idx] == pytest.approx(numeric, rel=1e-4, abs=1e-8), (key, idx)


def test_forward_shapes_and_float32():
    params = lenet.init_params(0)
    logits, cache = lenet.forward(params, np.zeros((2, 1, 28, 28), dtype=np.float32))
    assert logits.shape == (2, 10) and logits.dtype == np.float32
    shapes = [c["input"].shape[1:] for c in cache]
    assert shapes == [(1, 28, 28), (6, 14, 14), (16, 5, 5), (120,), (84,)]


def test_bad_input_shape_is_an_accel_error():
    with pytest.raises(AccelError, match="shape"):
        lenet.forward(lenet.init_params(0), np.zeros((2, 28, 28)))
