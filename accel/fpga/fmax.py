"""An Fmax model of each dataflow on ECP5 (speed 6), fitted to placed and routed points.

Place and route takes minutes to an hour a point, so sweeps, ``accel simulate`` and
``accel pareto`` call this model instead. Per dataflow the critical period grows with
the array's size through fan-out and routing distance (the operands every PE of a row or
column shares, the row multiplexers, the control's enables), so the model is

    period_ns = a + b x log2(rows x cols)

fitted by least squares on the routed points of ``bench/synth_table.py`` (``--fit``
writes ``fmax_ecp5.json``, with each point's leave-one-out error where a dataflow has
three or more points). Block RAM's minimum pulse width caps ECP5 at about 212 MHz at
speed 6 (``toolchain.md`` item 14), which nextpnr does not check: the model caps there.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from ..config import ArrayConfig
from ..errors import AccelError
from .targets import get_target

__all__ = ["MODEL_FILE", "BRAM_CAP_MHZ", "fit_period", "fmax_mhz", "model_entry"]

MODEL_FILE = Path(__file__).with_name("fmax_ecp5.json")

BRAM_CAP_MHZ = 212.0
"""DP16KD's minimum clock pulse width at speed 6: no design with block RAM runs faster."""


def _size(cfg: ArrayConfig) -> float:
    return math.log2(cfg.rows * cfg.cols)


def fit_period(points: list[tuple[ArrayConfig, float]]) -> dict[str, Any]:
    """Least-squares ``(a, b)`` of ``period = a + b log2(R C)`` on ``(config, Fmax MHz)``
    points, with the leave-one-out relative Fmax error when there are three or more."""
    if not points:
        raise AccelError("no routed point to fit the Fmax model on")

    def solve(pts):
        xs = [_size(c) for c, _ in pts]
        ys = [1000.0 / f for _, f in pts]
        if len(set(xs)) < 2:
            return sum(ys) / len(ys), 0.0
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mx) ** 2 for x in xs
        )
        return my - b * mx, b

    a, b = solve(points)
    errors = []
    if len(points) >= 3:
        for i, (cfg, f) in enumerate(points):
            la, lb = solve(points[:i] + points[i + 1 :])
            predicted = 1000.0 / (la + lb * _size(cfg))
            errors.append(abs(predicted - f) / f)
    return {
        "a_ns": a,
        "b_ns": b,
        "leave_one_out_error": (
            {"mean": sum(errors) / len(errors), "max": max(errors)} if errors else None
        ),
    }


@cache
def _model() -> dict[str, Any]:
    try:
        return json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AccelError(f"{MODEL_FILE}: cannot read the Fmax model: {err}") from None


def model_entry(dataflow: str) -> dict[str, Any]:
    """The fitted entry of ``dataflow``: coefficients, points and error."""
    try:
        return _model()["dataflows"][dataflow]
    except KeyError:
        raise AccelError(f"the Fmax model has no fit for dataflow {dataflow!r}") from None


def fmax_mhz(cfg: ArrayConfig, *, target: str = "ecp5-85k") -> float:
    """The modelled Fmax of ``cfg`` on ``target`` (ECP5 at speed 6), capped by block RAM."""
    if get_target(target).family != "ecp5":
        raise AccelError(f"the Fmax model is fitted for ECP5 only, not {target}")
    entry = model_entry(cfg.dataflow)
    period = entry["a_ns"] + entry["b_ns"] * _size(cfg)
    return min(BRAM_CAP_MHZ, 1000.0 / max(period, 1e-3))
