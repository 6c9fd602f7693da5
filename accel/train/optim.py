"""Adam that respects pruning masks, and the training loop the experiments share.

A mask is applied three times a step so that a pruned weight is an *exact* zero at all
times: its gradient is zeroed (no moment builds up), the update is masked, and the
weight is multiplied by the mask after the step. The L1 variant follows each Adam step
with the proximal soft-threshold step of ``lr * l1`` (:func:`accel.prune.soft_threshold`),
which is what makes weights exactly zero rather than merely small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import AccelError
from . import lenet

__all__ = ["Adam", "FitResult", "fit"]

Masks = dict[str, np.ndarray]


def _weight_key(layer: str) -> str:
    return f"{layer}.weight"


class Adam:
    """Adam (Kingma & Ba 2015) over a flat parameter dict, updated in place."""

    def __init__(
        self,
        params: dict[str, np.ndarray],
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if not 0 < lr < np.inf:
            raise AccelError(f"learning rate must be a positive number, not {lr!r}")
        self._lr, self._betas, self._eps = float(lr), betas, eps
        self._m = {k: np.zeros_like(v) for k, v in params.items()}
        self._v = {k: np.zeros_like(v) for k, v in params.items()}
        self._t = 0

    @property
    def lr(self) -> float:
        return self._lr

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        masks: Masks | None = None,
        lr: float | None = None,
    ) -> None:
        """One update; ``masks`` maps a layer name to its keep-mask (True = keep);
        ``lr`` overrides the learning rate for this step (a schedule)."""
        lr = self._lr if lr is None else lr
        self._t += 1
        b1, b2 = self._betas
        c1, c2 = 1 - b1**self._t, 1 - b2**self._t
        keep = {_weight_key(k): v for k, v in (masks or {}).items()}
        for key, g in grads.items():
            mask = keep.get(key)
            if mask is not None:
                g = g * mask
            m, v = self._m[key], self._v[key]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            params[key] -= (lr / c1) * m / (np.sqrt(v / c2) + self._eps)
            if mask is not None:
                params[key] *= mask
                m *= mask
                v *= mask


@dataclass(frozen=True)
class FitResult:
    """Trained parameters, the masks in force at the end, and the per-epoch mean loss."""

    params: dict[str, np.ndarray]
    masks: Masks
    losses: list[float]
    steps: int


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def fit(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    lr_end: float | None = None,
    seed: int | tuple[int, ...] = 0,
    masks: Masks | None = None,
    mask_update: Callable[[int, dict[str, np.ndarray]], Masks] | None = None,
    l1: float = 0.0,
) -> FitResult:
    """Train a copy of ``params`` with Adam on shuffled mini-batches (seeded).

    With ``lr_end`` the learning rate falls from ``lr`` to ``lr_end`` along a cosine.

    ``masks`` are fixed keep-masks applied throughout; ``mask_update(step, weights)``
    (e.g. :meth:`accel.prune.GradualPruner.update`) is asked for the masks before every
    step and may change them (gradual pruning); ``l1`` > 0 adds the proximal L1 step.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise AccelError(f"epochs must be a non-negative integer, not {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AccelError(f"batch size must be a positive integer, not {batch_size!r}")
    if not 0.0 <= l1 < np.inf:
        raise AccelError(f"l1 must be a non-negative number, not {l1!r}")
    if masks is not None and mask_update is not None:
        raise AccelError("give fixed masks or a mask update, not both")
    if l1 > 0:
        from ..prune import soft_threshold

    params = {k: np.array(v, copy=True) for k, v in params.items()}
    current: Masks = {k: np.asarray(v, dtype=bool) for k, v in (masks or {}).items()}
    for name, mask in current.items():
        params[_weight_key(name)] *= mask
    if lr_end is not None and not 0 <= lr_end <= lr:
        raise AccelError(f"lr_end must be in 0..lr={lr}, not {lr_end!r}")
    opt = Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    total_steps = epochs * steps_per_epoch(len(x), batch_size)
    losses: list[float] = []
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            if mask_update is not None:
                current = {
                    k: np.asarray(v, dtype=bool)
                    for k, v in mask_update(step, lenet.weights(params)).items()
                }
                for name, mask in current.items():
                    params[_weight_key(name)] *= mask
            lr_t = lr
            if lr_end is not None:
                lr_t = lr_end + 0.5 * (lr - lr_end) * (1 + np.cos(np.pi * step / total_steps))
            loss, grads = lenet.loss_and_grads(params, x[idx], y[idx])
            opt.step(params, grads, current, lr=lr_t)
            if l1 > 0:
                for name, w in lenet.weights(params).items():
                    params[_weight_key(name)] = soft_threshold(w, lr_t * l1)
            total += loss * len(idx)
            step += 1
        losses.append(total / len(x))
    return FitResult(params, current, losses, step)
