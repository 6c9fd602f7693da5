"""An adder whose first operand can be cleared in the carry chain itself."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .names import check_fabric

__all__ = ["CCU2C_CLEAR_ADD", "ClearingAdder"]

CCU2C_CLEAR_ADD = 0xC60C
"""A CCU2C half's INIT for ``s = (a & ~clear) + b`` with A = a, B = b, C = clear, D = 1.

The LUT4 (index ``{D, C, B, A}``) gives the propagate at D = 1: ``a ^ b`` where C = 0
(0x6), ``b`` where C = 1 (0xC). The carry logic's generate is the LUT2 of A and B that
reads INIT[3:0]: it matters only where the propagate is 0, and there ``b`` equals the
masked ``a``, so the generate is ``b`` (0xC). INIT[7:4] (D = 0, C = 1) is never read."""


class ClearingAdder(wiring.Component):
    """``s = (0 if clear else a) + b``, unsigned, ``width + 1`` bits (the carry on top),
    without registers.

    An accumulator that starts a new sum with the next addend (a tile's first product)
    usually puts a multiplexer after its adder: a LUT4 per bit, 2,048 on the dense 8x8.
    On ECP5 the mask costs nothing: each CCU2C half's LUT4 has two inputs to spare, so
    ``clear`` enters the carry chain beside the operands (``CCU2C_CLEAR_ADD``), the way
    Yosys's own mapping feeds its subtract flag to C0/C1. The generic description is the
    multiplexer and ``+`` (what the simulators run, and what iCE40 gets).

    Parameters
    ----------
    width:
        Operand width in bits.
    fabric:
        ``"generic"``, ``"ecp5"`` (a chain of CCU2C) or ``"ice40"`` (generic).
    """

    def __init__(self, *, width: int, fabric: str = "generic"):
        self._width = check_int("width", width, 1, 256)
        self._fabric = check_fabric(fabric)
        super().__init__(
            {"a": In(width), "b": In(width), "clear": In(1), "s": Out(width + 1)}
        )

    def elaborate(self, platform):
        m = Module()
        if self._fabric != "ecp5":
            m.d.comb += self.s.eq(Mux(self.clear, 0, self.a) + self.b)
            return m
        # one position more than the operands, with a = b = 0: its sum bit is the carry
        n = self._width + 1
        halves = n + (n & 1)
        zero = Const(0, 1)
        a = [self.a[i] if i < self._width else zero for i in range(halves)]
        b = [self.b[i] if i < self._width else zero for i in range(halves)]
        sums = []
        carry = zero
        for k in range(halves // 2):
            lo, hi = 2 * k, 2 * k + 1
            s0, s1, cout = Signal(name=f"s{lo}"), Signal(name=f"s{hi}"), Signal(name=f"co{k}")
            m.submodules[f"ccu2c{k}"] = Instance(
                "CCU2C",
                p_INIT0=Const(CCU2C_CLEAR_ADD, 16),
                p_INIT1=Const(CCU2C_CLEAR_ADD, 16),
                p_INJECT1_0="NO",
                p_INJECT1_1="NO",
                i_CIN=carry,
                i_A0=a[lo],
                i_B0=b[lo],
                i_C0=self.clear,
                i_D0=Const(1, 1),
                i_A1=a[hi],
                i_B1=b[hi],
                i_C1=self.clear,
                i_D1=Const(1, 1),
                o_S0=s0,
                o_S1=s1,
                o_COUT=cout,
            )
            sums += [s0, s1]
            carry = cout
        m.d.comb += self.s.eq(Cat(*sums[:n]))
        return m
