"""One flag registered in several flip-flops, so that a wide enable has several drivers."""

from __future__ import annotations

from amaranth import ClockSignal, Const, Module, ResetSignal
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .names import check_fabric

__all__ = ["FanoutRegister"]


class FanoutRegister(wiring.Component):
    """``q[i] = d`` one cycle later, for every ``i``: ``copies`` identical flip-flops
    (reset to 0 by the sync domain's reset).

    A flag that enables a thousand flip-flops from one register spends most of the clock
    in routing (7.8 ns, 6.6 of it routing, on the dense 8x8's output buffer); a copy per
    group of a hundred or so sinks, placed near its group, takes a fraction of that. Yosys
    merges identical flip-flops (``opt_merge``), so on an FPGA each copy is the family's
    flip-flop instantiated (TRELLIS_FF, SB_DFFSR), which it leaves alone; the generic
    description (the simulators) is one register per copy all the same.

    Parameters
    ----------
    copies:
        How many flip-flops hold the flag.
    fabric:
        ``"generic"``, ``"ecp5"`` or ``"ice40"`` (see :mod:`accel.hw.fabric`).
    """

    def __init__(self, *, copies: int, fabric: str = "generic"):
        self._copies = check_int("copies", copies, 1, 1 << 12)
        self._fabric = check_fabric(fabric)
        super().__init__({"d": In(1), "q": Out(copies)})

    def elaborate(self, platform):
        m = Module()
        for i in range(self._copies):
            if self._fabric == "generic":
                m.d.sync += self.q[i].eq(self.d)
            elif self._fabric == "ecp5":
                # synchronous reset to 0 (LSR over CE, REGSET RESET), always enabled
                m.submodules[f"ff{i}"] = Instance(
                    "TRELLIS_FF",
                    p_GSR="DISABLED",
                    p_CEMUX="1",
                    p_CLKMUX="CLK",
                    p_LSRMUX="LSR",
                    p_REGSET="RESET",
                    p_SRMODE="LSR_OVER_CE",
                    i_CLK=ClockSignal(),
                    i_LSR=ResetSignal(),
                    i_CE=Const(1, 1),
                    i_DI=self.d,
                    o_Q=self.q[i],
                )
            else:
                m.submodules[f"ff{i}"] = Instance(
                    "SB_DFFSR", i_C=ClockSignal(), i_R=ResetSignal(), i_D=self.d, o_Q=self.q[i]
                )
        return m

