"""An area model of the array on ECP5: LUT, FF, DSP and block RAM from the configuration.

Design-space sweeps cannot place and route every point (minutes to hours each), so they
call :func:`estimate`, fitted to measured points (``bench/synth_table.py`` runs Yosys
on them and writes ``area_ecp5.json``, with the fit's error on points it did not see).
Each term is one structure of the RTL, so the coefficients read as "logic cells per bit
of that structure" and the model extrapolates the way the hardware scales:

* the window buffer's copies in LUT RAM: ``R x B x C x a_bits`` bits (times the 16-entry
  chunks of ``D + 1`` slots; one copy, not ``R``, without weight skipping, where the
  rows run in lockstep);
* the pick multiplexers: ``R x L x B x C x a_bits`` for the activations (again one row's
  worth in lockstep) and ``R x L x B x w_bits`` for the weights;
* the output stage: ``C x acc_bits``; the output buffer and accumulators:
  ``R x C x acc_bits``; the PEs' operand gating: ``R x C x L x (w_bits + a_bits)``;
* the selectors: ``R x L x B``; the activity OR trees: ``B x C x a_bits``; control.

DSPs are exact (one MULT18X18D per multiplier, ``R x C x L``, checked on every measured
point), and so are block RAMs (each row's weight memory: ``ceil(record / 36)`` DP16KDs
for up to 512 records; Yosys keeps 16 records or fewer in LUT RAM).

The dense reference dataflow (``accel.hw.dense_top``) has its own terms and its own fit:

* the PEs (two-half accumulators and their capture registers): ``R x C x acc_bits``;
* the output buffer's row multiplexer: ``(R - result_rows) x C x acc_bits``;
* the output stages: ``result_rows x C x acc_bits``;
* the window shift register: ``B x C x a_bits``; the weight pick: ``R x (B - 1) x w_bits``;
* the biases' bank multiplexers: ``R x acc_bits``; the lanes: ``weight_bus_bits``;
* the multipliers beyond the device's DSPs, built from logic: their count (``lut_mults``).

Its DSPs are ``min(R x C, device DSPs)`` and its block RAMs the DP16KD tiling of each row's
record memory (``accel.hw.fabric.block_ram``), both exact.
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

__all__ = ["FEATURES", "features", "exact", "estimate", "MODEL_FILE"]

DENSE_FEATURES = (
    "control",
    "pes",
    "row_mux",
    "output_stage",
    "window",
    "pick_weights",
    "bias",
    "lanes",
    "lut_mults",
)

MODEL_FILE = Path(__file__).with_name("area_ecp5.json")

FEATURES = (
    "control",
    "window_lutram",
    "pick_acts",
    "pick_weights",
    "output_stage",
    "accumulators",
    "gating",
    "selector",
    "activity",
)


def features(cfg: ArrayConfig, *, dsps: int | None = None) -> dict[str, float]:
    """The structural terms of ``cfg``'s dataflow (``dsps``: the device's DSPs, for the
    dense array's LUT multipliers)."""
    if cfg.dataflow == "dense":
        return _dense_features(cfg, dsps)
    R, C, B, L = cfg.rows, cfg.cols, cfg.block, cfg.lanes
    chunks = math.ceil((cfg.queue_depth + 1) / 16)
    copies = R if cfg.skip_weights else 1  # lockstep rows share one window read and pick
    return {
        "control": 1.0,
        "window_lutram": copies * B * C * cfg.a_bits * chunks,
        "pick_acts": copies * L * B * C * cfg.a_bits,
        "pick_weights": R * L * B * cfg.w_bits,
        "output_stage": C * cfg.acc_bits,
        "accumulators": R * C * cfg.acc_bits,
        "gating": R * C * L * (cfg.w_bits + cfg.a_bits),
        "selector": R * L * B,
        "activity": B * C * cfg.a_bits if cfg.skip_acts else 0.0,
    }


def _dense_features(cfg: ArrayConfig, dsps: int | None) -> dict[str, float]:
    R, C, B, k = cfg.rows, cfg.cols, cfg.block, cfg.result_rows
    n = R * C
    return {
        "control": 1.0,
        "pes": n * cfg.acc_bits,
        "row_mux": (R - k) * C * cfg.acc_bits,
        "output_stage": k * C * cfg.acc_bits,
        "window": B * C * cfg.a_bits,
        "pick_weights": R * (B - 1) * cfg.w_bits,
        "bias": R * cfg.acc_bits,
        "lanes": float(cfg.weight_bus_bits),
        "lut_mults": float(max(0, n - dsps)) if dsps is not None else 0.0,
    }


def feature_names(cfg: ArrayConfig) -> tuple[str, ...]:
    return DENSE_FEATURES if cfg.dataflow == "dense" else FEATURES


def record_bits(cfg: ArrayConfig) -> int:
    return cfg.block * cfg.w_bits + (cfg.block if cfg.skip_weights else 0)


def exact(cfg: ArrayConfig, max_blocks: int, *, dsps: int | None = None) -> dict[str, int]:
    """The resources the structure fixes: DSPs and block RAMs (ECP5)."""
    if cfg.dataflow == "dense":
        from ..hw.fabric.block_ram import dp16kd_tiling

        n = cfg.rows * cfg.cols
        _, blocks = dp16kd_tiling(record_bits(cfg), 2 * max_blocks)
        return {"dsp": n if dsps is None else min(n, dsps), "bram": cfg.rows * blocks}
    if max_blocks <= 16:
        bram = 0  # Yosys maps memories this shallow to LUT RAM
    else:
        bram = cfg.rows * math.ceil(record_bits(cfg) / 36) * math.ceil(max_blocks / 512)
    return {"dsp": cfg.rows * cfg.cols * cfg.lanes, "bram": bram}


@cache
def _model() -> dict[str, Any]:
    try:
        return json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AccelError(f"{MODEL_FILE}: cannot read the area model: {err}") from None


def estimate(cfg: ArrayConfig, *, max_blocks: int = 64, target: str = "ecp5-85k") -> dict:
    """Estimated resources of the core (harness excluded) and their share of ``target``."""
    t = get_target(target)
    if t.family != "ecp5":
        raise AccelError(f"the area model is fitted for ECP5 only, not {target}")
    model = _model()["dataflows"][cfg.dataflow]
    dsps = t.available["dsp"]
    f = features(cfg, dsps=dsps)
    out: dict[str, Any] = {
        res: max(0, round(sum(c * f[name] for name, c in coeffs.items())))
        for res, coeffs in model["coefficients"].items()
    }
    out.update(exact(cfg, max_blocks, dsps=dsps))
    out["share"] = {res: out[res] / t.available[res] for res in ("lut", "ff", "dsp", "bram")}
    out["fits"] = all(v <= 1 for v in out["share"].values())
    out["target"] = target
    out["model_error"] = model["held_out_error"]
    return out
