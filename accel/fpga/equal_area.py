"""Speedup at equal area: the one figure that decides a design against the dense array.

A design that takes fewer cycles is only faster if it does not pay for them with more
area or a slower clock. The figure asks: with the area of one design spent on copies of
the other, which finishes a workload first? For a workload,

    speedup = (T_ref x A_ref) / (T x A),    T = total_cycles / Fmax,

where ``ref`` is the dense reference array of the same size (``ArrayConfig.
dense_reference``, built by the same tool for the same device at its own clock) and
``A`` a design's logic cells: LUT4 + 2 per carry cell + 6 per LUT RAM (what a placed
design takes of the device's logic). DSPs and block RAMs are shown beside it, not folded
in: a design that needs more DSPs than the device has is over budget whatever its logic.

Every figure says where its numbers come from: ``measured`` (placed and routed by
``accel synth``), ``modelled`` (the area and Fmax models of ``accel.fpga.area`` and
``accel.fpga.fmax``) or ``mixed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config import ArrayConfig
from ..errors import AccelError

__all__ = [
    "CARRY_CELLS",
    "LUTRAM_CELLS",
    "Implementation",
    "EqualArea",
    "logic_cells",
    "measured_implementation",
    "modelled",
    "modelled_implementation",
    "speedup_at_equal_area",
]

CARRY_CELLS = 2
"""Logic cells a carry cell (ECP5 CCU2C: two LUT4s and their carry) takes."""

LUTRAM_CELLS = 6
"""Logic cells a 16x4 LUT RAM (ECP5 TRELLIS_DPR16X4) takes: four LUT4s of data and two of
write logic in its slice."""

SOURCES = ("measured", "modelled")


def logic_cells(*, lut4: int, carry: int = 0, lutram: int = 0) -> int:
    """A design's area in logic cells: ``lut4 + 2 x carry + 6 x lutram``.

    Parameters
    ----------
    lut4, carry, lutram:
        Counts of LUT4s, carry cells and 16x4 LUT RAMs (Yosys's cell counts of the core).
    """
    for name, value in (("lut4", lut4), ("carry", carry), ("lutram", lutram)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AccelError(f"{name} must be a non-negative integer, not {value!r}", field=name)
    return lut4 + CARRY_CELLS * carry + LUTRAM_CELLS * lutram


@dataclass(frozen=True)
class Implementation:
    """A design on an FPGA: its area and clock, and where those numbers come from.

    Parameters
    ----------
    logic_cells:
        Area (:func:`logic_cells`), at least 1.
    fmax_mhz:
        The clock it runs at: the routed Fmax, or the model's (``min`` with a requested
        clock is the caller's choice).
    dsp, bram:
        Hard blocks used, shown beside the area.
    source:
        ``"measured"`` or ``"modelled"``.
    dsp_available:
        The device's DSPs, when known: a design needing more is over budget.
    """

    logic_cells: int
    fmax_mhz: float
    dsp: int = 0
    bram: int = 0
    source: str = "modelled"
    dsp_available: int | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.logic_cells, bool)
            or not isinstance(self.logic_cells, int)
            or (self.logic_cells < 1)
        ):
            raise AccelError(
                f"logic_cells must be a positive integer, not {self.logic_cells!r}",
                field="logic_cells",
            )
        if not isinstance(self.fmax_mhz, (int, float)) or not 0 < self.fmax_mhz < 1e4:
            raise AccelError(
                f"fmax_mhz must be a positive number of MHz, not {self.fmax_mhz!r}",
                field="fmax_mhz",
            )
        if self.source not in SOURCES:
            raise AccelError(
                f"source must be one of {', '.join(SOURCES)}, not {self.source!r}",
                field="source",
            )

    @property
    def over_budget(self) -> bool:
        """More DSPs than the device has."""
        return self.dsp_available is not None and self.dsp > self.dsp_available

    def seconds(self, cycles: int) -> float:
        """Wall time of ``cycles`` at this design's clock."""
        return cycles / (self.fmax_mhz * 1e6)


@dataclass(frozen=True)
class EqualArea:
    """A design against the dense reference on one workload, at equal area.

    ``speedup = cycle_ratio x clock_ratio / area_ratio``: above 1, the design's area
    spent on it beats the same area spent on dense arrays. ``break_even`` is the cycle
    ratio the design needs for a speedup of 1 (``area_ratio / clock_ratio``).
    """

    speedup: float
    cycle_ratio: float
    area_ratio: float
    clock_ratio: float
    break_even: float
    source: str
    design: Implementation
    reference: Implementation

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("design", "reference"):
            out[key]["over_budget"] = getattr(self, key).over_budget
        return out


def speedup_at_equal_area(
    *,
    cycles: int,
    reference_cycles: int,
    design: Implementation,
    reference: Implementation,
) -> EqualArea:
    """``(T_ref x A_ref) / (T x A)`` with ``T = cycles / Fmax`` and ``A`` logic cells.

    Parameters
    ----------
    cycles, reference_cycles:
        Total cycles of the workload on the design and on the dense reference.
    design, reference:
        Their area and clock (:class:`Implementation`).

    Returns
    -------
    EqualArea
        The speedup, its three factors, the break-even cycle ratio and whether the
        numbers were measured, modelled or mixed.
    """
    for name, value in (("cycles", cycles), ("reference_cycles", reference_cycles)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AccelError(f"{name} must be a positive integer, not {value!r}", field=name)
    cycle_ratio = reference_cycles / cycles
    area_ratio = design.logic_cells / reference.logic_cells
    clock_ratio = design.fmax_mhz / reference.fmax_mhz
    sources = {design.source, reference.source}
    return EqualArea(
        speedup=cycle_ratio * clock_ratio / area_ratio,
        cycle_ratio=cycle_ratio,
        area_ratio=area_ratio,
        clock_ratio=clock_ratio,
        break_even=area_ratio / clock_ratio,
        source=sources.pop() if len(sources) == 1 else "mixed",
        design=design,
        reference=reference,
    )


def modelled_implementation(
    config: ArrayConfig, *, max_blocks: int, target: str = "ecp5-85k"
) -> Implementation:
    """``config`` on ``target`` from the area model (``accel.fpga.area``) and the Fmax
    model (``accel.fpga.fmax``), both fitted to this tool's own runs."""
    from .area import estimate
    from .fmax import fmax_mhz
    from .targets import get_target

    est = estimate(config, max_blocks=max_blocks, target=target)
    return Implementation(
        logic_cells=max(1, int(est["lut"])),
        fmax_mhz=fmax_mhz(config, target=target),
        dsp=int(est["dsp"]),
        bram=int(est["bram"]),
        source="modelled",
        dsp_available=get_target(target).available["dsp"],
    )


def modelled(
    config: ArrayConfig,
    *,
    cycles: int,
    reference_cycles: int,
    max_blocks: int,
    target: str = "ecp5-85k",
) -> EqualArea:
    """Speedup at equal area of ``config`` against its dense reference
    (``config.dense_reference()``), both from the models, each at its own modelled Fmax.

    Parameters
    ----------
    config:
        The design's array.
    cycles, reference_cycles:
        The workload's total cycles on the design and on the reference (``accel
        simulate`` runs both).
    max_blocks:
        Weight-memory depth both are built with (the workload's deepest layer).
    target:
        An ECP5 device (the models are fitted there).
    """
    reference = config.dense_reference()
    return speedup_at_equal_area(
        cycles=cycles,
        reference_cycles=reference_cycles,
        design=modelled_implementation(config, max_blocks=max_blocks, target=target),
        reference=modelled_implementation(reference, max_blocks=max_blocks, target=target),
    )


def measured_implementation(result: dict[str, Any]) -> Implementation:
    """A placed and routed design from its ``accel synth`` report (``flow.synthesize``):
    the core's logic cells, the clock's achieved Fmax, DSPs and block RAMs."""
    from .report import logic_cells as cells_of
    from .targets import get_target

    target = get_target(result["target"])
    if not result.get("fmax"):
        raise AccelError(f"the design was not placed and routed on {target.name}: no Fmax")
    clock = next(iter(result["fmax"].values()))
    core = result["core"]["resources"]
    return Implementation(
        logic_cells=max(1, cells_of(result["core"]["cells"], target)),
        fmax_mhz=clock["achieved"],
        dsp=int(core.get("dsp", 0)),
        bram=int(core.get("bram", 0)),
        source="measured",
        dsp_available=target.available.get("dsp"),
    )
