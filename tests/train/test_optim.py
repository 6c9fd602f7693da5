"""Training learns real digits; masks hold during fine-tuning; L1 makes exact zeros."""

from __future__ import annotations

import numpy as np
import pytest

from accel.errors import AccelError
from accel.prune import GradualPruner, global_magnitude_masks
from accel.train import data, lenet
from accel.train.optim import Adam, fit


@pytest.fixture(scope="module")
def split():
    images, labels = data.load_mnist()
    return data.split(images, labels, 4000, 1000, seed=0)


@pytest.fixture(scope="module")
def small(split):
    return split.x_train[:256], split.y_train[:256]


def test_dense_training_reaches_95_percent_on_held_out_images(split):
    params = lenet.init_params(0)
    result = fit(params, split.x_train, split.y_train, epochs=2, lr=2e-3, lr_end=1e-4, seed=0)
    assert result.losses[1] < result.losses[0]
    assert lenet.accuracy(result.params, split.x_test, split.y_test) >= 0.95
    assert lenet.accuracy(params, split.x_test, split.y_test) < 0.5  # the input is untouched


def test_pruned_weights_stay_exactly_zero_while_training(small):
    params = lenet.init_params(1)
    masks = global_magnitude_masks(lenet.weights(params), 0.8)
    result = fit(params, *small, epochs=2, lr=3e-3, seed=1, masks=masks)
    moved = 0
    for name, w in lenet.weights(result.params).items():
        assert np.all(w[~masks[name]] == 0), name
        moved += int(np.count_nonzero(w[masks[name]] != lenet.weights(params)[name][masks[name]]))
        assert np.array_equal(result.masks[name], masks[name])
    assert moved > 0  # the kept weights did train


def test_adam_without_masks_moves_every_weight():
    p = {"fc1.weight": np.ones((2, 3), dtype=np.float32)}
    opt = Adam(p, lr=0.1)
    mask = {"fc1": np.array([[True, False, True], [False, True, True]])}
    opt.step(p, {"fc1.weight": np.ones((2, 3), dtype=np.float32)}, mask)
    assert np.array_equal(p["fc1.weight"] == 0, ~mask["fc1"])
    np.testing.assert_allclose(p["fc1.weight"][mask["fc1"]], 0.9, rtol=1e-5)


def test_gradual_masks_only_shrink_and_hold(small):
    params = lenet.init_params(2)
    pruner = GradualPruner(0.75, start=0, steps=4, interval=3, method="magnitude")
    seen = []

    def update(step, weights):
        masks = pruner.update(step, weights)
        for name, w in weights.items():  # weights reaching the step are already masked
            if seen:
                assert np.all(w[~seen[-1][name]] == 0)
        seen.append(masks)
        return masks

    result = fit(params, *small, epochs=2, lr=2e-3, seed=2, mask_update=update)
    assert len(seen) == result.steps
    for before, after in zip(seen, seen[1:], strict=False):
        for name in before:
            assert not np.any(after[name] & ~before[name])  # never revived
    final = lenet.weights(result.params)
    kept = sum(int(np.count_nonzero(m)) for m in result.masks.values())
    total = sum(m.size for m in result.masks.values())
    assert kept / total == pytest.approx(0.25, abs=0.01)
    for name, w in final.items():
        assert np.all(w[~result.masks[name]] == 0)


def test_l1_proximal_training_makes_exact_zeros(small):
    params = lenet.init_params(3)
    plain = fit(params, *small, epochs=1, lr=1e-3, seed=3)
    sparse = fit(params, *small, epochs=1, lr=1e-3, seed=3, l1=2.0)
    zeros = sum(int(np.sum(w == 0)) for w in lenet.weights(sparse.params).values())
    assert sum(int(np.sum(w == 0)) for w in lenet.weights(plain.params).values()) == 0
    assert zeros > 0.1 * sum(w.size for w in lenet.weights(params).values())


@pytest.mark.parametrize(
    "kwargs", [{"epochs": -1}, {"epochs": 1, "batch_size": 0}, {"epochs": 1, "l1": -1.0}]
)
def test_bad_arguments_are_accel_errors(small, kwargs):
    with pytest.raises(AccelError):
        fit(lenet.init_params(0), *small, **kwargs)
