"""Gradual pruning during training (Zhu and Gupta 2017, "To prune, or not to prune").

The sparsity rises from ``initial`` to ``final`` along a cubic, fast at first (while
there are many redundant weights) and slowly at the end; masks are recomputed every
``interval`` steps for ``steps`` intervals and held fixed in between, while the training
loop multiplies the weights (and their gradients) by them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import AccelError
from .arguments import check_count, check_sparsity
from .masks import (
    _block_mask,
    _channel_mask,
    _check_norm,
    _global_magnitude_masks,
    _magnitude_mask,
    _nm_mask,
    check_block,
)

__all__ = ["cubic_sparsity", "GradualPruner", "METHODS"]

METHODS = ("magnitude", "nm", "channel", "block")


def _check_schedule(initial, final, start, steps, interval) -> tuple[float, float, int, int, int]:
    initial = check_sparsity("initial", initial)
    final = check_sparsity("final", final)
    if initial > final:
        raise AccelError(f"initial must not exceed final={final}, not {initial}")
    return (
        initial,
        final,
        check_count("start", start, 0),
        check_count("steps", steps, 1),
        check_count("interval", interval, 1),
    )


def cubic_sparsity(
    step: int, *, initial: float, final: float, start: int, steps: int, interval: int
) -> float:
    """``s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3`` on ``t0 <= t <= t0 + n dt``.

    ``initial`` before ``start``, ``final`` after the last pruning step.
    """
    initial, final, start, steps, interval = _check_schedule(initial, final, start, steps, interval)
    step = check_count("step", step, 0)
    if step <= start:
        return initial
    span = steps * interval
    if step >= start + span:
        return final
    return final + (initial - final) * (1.0 - (step - start) / span) ** 3


class GradualPruner:
    """Masks along the cubic schedule, recomputed only at ``start + i * interval``.

    Call :meth:`update` every training step with the current (masked) weights. At a
    pruning step the masks are recomputed from them; a weight removed before ranks below
    every other, so it stays removed (the masks only shrink). Otherwise the same masks
    come back. Masks are read-only arrays.

    ``method``: ``"magnitude"`` (``scope="layer"`` or ``"global"``), ``"channel"``
    (``norm``), ``"block"`` (``block``), or ``"nm"``: ``m`` positions per group along K,
    each step keeping ``m - round(s_t * m)`` of them, so ``final=0.5, m=4`` ends at 2:4;
    ``final * m`` must be a whole number.
    """

    def __init__(
        self,
        final: float,
        *,
        start: int,
        steps: int,
        interval: int,
        initial: float = 0.0,
        method: str = "magnitude",
        scope: str = "layer",
        m: int | None = None,
        norm: str = "l1",
        block: tuple[int, int] = (1, 16),
    ):
        self._initial, self._final, self._start, self._steps, self._interval = _check_schedule(
            initial, final, start, steps, interval
        )
        if method not in METHODS:
            raise AccelError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        if scope not in ("layer", "global"):
            raise AccelError(f"scope must be 'layer' or 'global', not {scope!r}")
        if scope == "global" and method != "magnitude":
            raise AccelError(f"scope 'global' applies to method 'magnitude', not {method!r}")
        if method == "nm":
            if m is None:
                raise AccelError("method 'nm' needs m, the group length along K")
            m = check_count("m", m, 1)
            if abs(self._final * m - round(self._final * m)) > 1e-9:
                raise AccelError(f"final * m must be a whole number for method 'nm', not {final}")
        elif m is not None:
            raise AccelError(f"m applies to method 'nm', not {method!r}")
        self._method, self._scope, self._m = method, scope, m
        self._norm = _check_norm(norm)
        self._block = check_block(block)
        self._masks: dict[str, np.ndarray] = {}

    @property
    def method(self) -> str:
        return self._method

    @property
    def masks(self) -> dict[str, np.ndarray]:
        """The current masks (a new dict of the same read-only arrays)."""
        return dict(self._masks)

    @property
    def pruning_steps(self) -> range:
        """``t0, t0 + dt, ..., t0 + n dt``."""
        return range(self._start, self._start + self._steps * self._interval + 1, self._interval)

    def is_pruning_step(self, step: int) -> bool:
        return check_count("step", step, 0) in self.pruning_steps

    def sparsity_at(self, step: int) -> float:
        return cubic_sparsity(
            step,
            initial=self._initial,
            final=self._final,
            start=self._start,
            steps=self._steps,
            interval=self._interval,
        )

    def schedule(self) -> list[tuple[int, float]]:
        """``(step, sparsity)`` at every pruning step."""
        return [(t, self.sparsity_at(t)) for t in self.pruning_steps]

    def update(self, step: int, weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The masks to apply after ``step``, recomputed if it is a pruning step."""
        shapes = {name: np.shape(w) for name, w in weights.items()}
        for name, shape in shapes.items():
            if name in self._masks and self._masks[name].shape != shape:
                raise AccelError(
                    f"weight {name!r} changed shape from {self._masks[name].shape} to {shape}"
                )
        for name, shape in shapes.items():
            if name not in self._masks:
                self._masks[name] = self._frozen(np.ones(shape, dtype=bool))
        if self.is_pruning_step(step):
            s = self.sparsity_at(step)
            new = self._compute(s, {name: weights[name] for name in shapes})
            self._masks.update({name: self._frozen(mask) for name, mask in new.items()})
        return self.masks

    @staticmethod
    def _frozen(mask: np.ndarray) -> np.ndarray:
        mask = np.array(mask, dtype=bool)
        mask.flags.writeable = False
        return mask

    def _compute(self, s: float, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        priors = {name: np.asarray(self._masks[name]) for name in weights}
        if self._method == "magnitude" and self._scope == "global":
            return _global_magnitude_masks(weights, s, priors)
        out = {}
        for name, w in weights.items():
            prior = priors[name]
            if self._method == "magnitude":
                out[name] = _magnitude_mask(w, s, prior)
            elif self._method == "channel":
                out[name] = _channel_mask(w, s, self._norm, prior)
            elif self._method == "block":
                out[name] = _block_mask(w, s, self._block, prior)
            else:
                m = self._m
                n = m - min(round(s * m), m)
                out[name] = prior.copy() if n == m else _nm_mask(w, n, m, prior)
        return out
