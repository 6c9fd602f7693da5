"""The cubic schedule at known points, and masks that move only at pruning steps."""

from __future__ import annotations

import numpy as np
import pytest

from accel.errors import AccelError
from accel.prune import GradualPruner, apply_mask, check_nm, cubic_sparsity

SCHEDULE = dict(initial=0.1, final=0.9, start=100, steps=8, interval=10)


def test_cubic_at_known_points():
    assert cubic_sparsity(100, **SCHEDULE) == 0.1
    assert cubic_sparsity(180, **SCHEDULE) == 0.9
    assert cubic_sparsity(140, **SCHEDULE) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5**3)
    assert cubic_sparsity(120, **SCHEDULE) == pytest.approx(0.9 - 0.8 * 0.75**3)
    assert cubic_sparsity(0, **SCHEDULE) == 0.1  # before t0: s_i
    assert cubic_sparsity(99, **SCHEDULE) == 0.1
    assert cubic_sparsity(181, **SCHEDULE) == 0.9  # after t0 + n dt: s_f
    assert cubic_sparsity(10**9, **SCHEDULE) == 0.9


def test_cubic_rises_fast_first():
    values = [cubic_sparsity(t, **SCHEDULE) for t in range(100, 181, 10)]
    steps = np.diff(values)
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0)


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"initial": -0.1}, ["initial", "-0.1"]),
        ({"final": 1.5}, ["final", "1.5"]),
        ({"final": float("nan")}, ["final", "nan"]),
        ({"initial": 0.95}, ["initial", "0.95"]),
        ({"steps": 0}, ["steps", "0"]),
        ({"interval": 0}, ["interval", "0"]),
        ({"start": -1}, ["start", "-1"]),
        ({"interval": 2.0}, ["interval", "2.0"]),
        ({"steps": True}, ["steps", "True"]),
    ],
)
def test_cubic_argument_errors_name_the_parameter(change, needles):
    with pytest.raises(AccelError) as info:
        cubic_sparsity(120, **{**SCHEDULE, **change})
    for needle in needles:
        assert needle in str(info.value)
    with pytest.raises(AccelError) as info:
        GradualPruner(
            change.get("final", 0.9),
            **{k: v for k, v in {**SCHEDULE, **change}.items() if k != "final"},
        )
    assert needles[0] in str(info.value)


def test_cubic_step_must_be_an_integer():
    with pytest.raises(AccelError, match="step"):
        cubic_sparsity(1.5, **SCHEDULE)


def train(pruner: GradualPruner, weights: dict[str, np.ndarray], last: int, seed: int = 0):
    """A stand-in training loop: random updates, weights multiplied by the masks."""
    r = np.random.default_rng(seed)
    history = []
    for step in range(last + 1):
        weights = {k: w + 0.05 * r.normal(size=w.shape) for k, w in weights.items()}
        masks = pruner.update(step, weights)
        weights = {k: apply_mask(w, masks[k]) for k, w in weights.items()}
        history.append((step, {k: m.copy() for k, m in masks.items()}))
    return weights, history


@pytest.mark.parametrize("method", ["magnitude", "channel", "block"])
def test_masks_change_only_at_pruning_steps_and_never_revive(method):
    pruner = GradualPruner(0.75, start=5, steps=4, interval=3, method=method, block=(2, 4))
    assert list(pruner.pruning_steps) == [5, 8, 11, 14, 17]
    r = np.random.default_rng(1)
    ws = {"a": r.normal(size=(64, 2, 3, 3)), "b": r.normal(size=(16, 24))}
    weights, history = train(pruner, ws, 25)
    for (step, masks), (_, previous) in zip(history[1:], history[:-1], strict=True):
        for k in masks:
            if not pruner.is_pruning_step(step):
                assert np.array_equal(masks[k], previous[k]), (step, k)
            assert not np.any(masks[k] & ~previous[k]), (step, k)  # pruned stays pruned
    changed = {
        step
        for (step, m), (_, p) in zip(history[1:], history[:-1], strict=True)
        if any(not np.array_equal(m[k], p[k]) for k in m)
    }
    assert changed == {8, 11, 14, 17}  # step 5 prunes at s_i = 0: nothing moves
    final = history[-1][1]
    assert 1 - final["b"].mean() == pytest.approx(0.75, abs=0.02)


def test_exact_zeros_in_the_weights_do_not_revive_pruned_ones():
    pruner = GradualPruner(0.5, start=0, steps=2, interval=1)
    w = np.array([[4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    m1 = pruner.update(1, {"w": w})["w"]  # s = 0.5 - 0.5 / 8 = 0.4375: 4 of 8 (round 3.5)
    assert m1.sum() == 4
    # the kept weights all became zero as well; ranking ties must still spare m1's removals
    w2 = np.where(m1, 0.0, 0.0)
    w2[0, 0] = 5.0
    m2 = pruner.update(2, {"w": w2})["w"]
    assert not np.any(m2 & ~m1)


def test_gradual_nm_ends_at_the_pattern():
    pruner = GradualPruner(0.5, start=0, steps=3, interval=2, method="nm", m=4)
    w = np.random.default_rng(2).normal(size=(6, 16))
    weights, history = train(pruner, {"w": w}, 10)
    check_nm(weights["w"], 2, 4)
    kept = [int(m["w"].sum()) for _, m in history]
    assert kept[0] == 96 and kept[-1] == 48 and kept == sorted(kept, reverse=True)
    with pytest.raises(AccelError, match="final \\* m"):
        GradualPruner(0.6, start=0, steps=3, interval=2, method="nm", m=4)
    with pytest.raises(AccelError, match="needs m"):
        GradualPruner(0.5, start=0, steps=3, interval=2, method="nm")


def test_global_scope_and_read_only_masks():
    pruner = GradualPruner(0.5, start=0, steps=1, interval=1, scope="global")
    masks = pruner.update(1, {"small": np.full((2, 2), 0.1), "large": np.full((2, 2), 3.0)})
    assert not masks["small"].any() and masks["large"].all()
    with pytest.raises(ValueError):
        masks["large"][0, 0] = False
    again = pruner.update(2, {"small": np.ones((2, 2)), "large": np.ones((2, 2))})
    assert all(again[k] is masks[k] for k in masks)  # not a pruning step: the same masks


def test_pruner_refuses_bad_use():
    with pytest.raises(AccelError, match="method.*'random'"):
        GradualPruner(0.5, start=0, steps=1, interval=1, method="random")
    with pytest.raises(AccelError, match="scope 'global'"):
        GradualPruner(0.5, start=0, steps=1, interval=1, method="channel", scope="global")
    pruner = GradualPruner(0.5, start=0, steps=1, interval=1)
    pruner.update(0, {"w": np.ones((2, 2))})
    with pytest.raises(AccelError, match="'w' changed shape"):
        pruner.update(1, {"w": np.ones((2, 3))})
    with pytest.raises(AccelError, match="step"):
        pruner.is_pruning_step(-1)
