"""A signed multiplier with its input, pipeline and output registers: one DSP on an FPGA."""

from __future__ import annotations

from amaranth import ClockSignal, Const, Module, Signal, signed
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...errors import AccelError
from ..params import check_int
from .names import check_fabric

__all__ = ["MULTIPLIER_LATENCY", "Multiplier"]

MULTIPLIER_LATENCY = 3
"""Operands presented in cycle t give their product on ``p`` in cycle t + 3: input
registers, pipeline register, output register (MULT18X18D with all three on)."""


class Multiplier(wiring.Component):
    """``p = a * b`` (signed), ``MULTIPLIER_LATENCY`` cycles later, every cycle.

    No clock enable and no reset: the registers run freely, which is what lets the
    fabric's DSP keep all three of them (a gated or reset register would move back into
    the fabric). Whoever uses ``p`` tracks which products are valid.

    Parameters
    ----------
    a_bits, b_bits:
        Operand widths, signed, at most 18 (one MULT18X18D or SB_MAC16 16x16 with sign
        extension; iCE40 takes at most 16).
    fabric:
        ``"generic"`` (Amaranth registers and ``*``), ``"ecp5"`` (one MULT18X18D, its
        input, pipeline and output registers on CLK0) or ``"ice40"`` (one SB_MAC16 16x16,
        its A/B input registers, the 8x8 product registers and the 16x16 product register).
    """

    def __init__(self, *, a_bits: int, b_bits: int, fabric: str = "generic"):
        self._a_bits = check_int("a_bits", a_bits, 2, 18)
        self._b_bits = check_int("b_bits", b_bits, 2, 18)
        self._fabric = check_fabric(fabric)
        if self._fabric == "ice40":
            for name, bits in (("a_bits", a_bits), ("b_bits", b_bits)):
                if bits > 16:
                    raise AccelError(
                        f"{name} must be at most 16 on ice40 (SB_MAC16 multiplies 16 x 16 "
                        f"bits), not {bits}"
                    )
        super().__init__(
            {
                "a": In(signed(a_bits)),
                "b": In(signed(b_bits)),
                "p": Out(signed(a_bits + b_bits)),
            }
        )

    @property
    def fabric(self) -> str:
        return self._fabric

    def elaborate(self, platform):
        m = Module()
        if self._fabric == "generic":
            self._generic(m)
        elif self._fabric == "ecp5":
            self._ecp5(m)
        else:
            self._ice40(m)
        return m

    def _generic(self, m: Module) -> None:
        a = Signal.like(self.a, name="a_in")
        b = Signal.like(self.b, name="b_in")
        piped = Signal.like(self.p, name="p_pipe")
        out = Signal.like(self.p, name="p_out")
        m.d.sync += [a.eq(self.a), b.eq(self.b), piped.eq(a * b), out.eq(piped)]
        m.d.comb += self.p.eq(out)

    def _ecp5(self, m: Module) -> None:
        # MULT18X18D with its three register stages clocked by CLK0, always enabled (CE0)
        # and never reset (RST0): nextpnr times a clocked MULT18X18D against CLK0 only.
        # The operands are sign-extended to 18 bits and multiplied signed; the low
        # a_bits + b_bits bits of the 36-bit product are the whole product.
        a = Signal(signed(18), name="a_ext")
        b = Signal(signed(18), name="b_ext")
        p = Signal(signed(36), name="p_full")
        m.d.comb += [a.eq(self.a), b.eq(self.b), self.p.eq(p[: len(self.p)])]
        one, zero = Const(1, 1), Const(0, 1)
        ports = {
            "i_CLK0": ClockSignal(),
            "i_CE0": one,
            "i_RST0": zero,
            "i_SIGNEDA": one,
            "i_SIGNEDB": one,
            "i_SOURCEA": zero,
            "i_SOURCEB": zero,
        }
        for i in range(18):
            ports[f"i_A{i}"] = a[i]
            ports[f"i_B{i}"] = b[i]
            ports[f"i_C{i}"] = zero
        for i in range(36):
            ports[f"o_P{i}"] = p[i]
        params = {}
        for reg in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT"):
            params[f"p_REG_{reg}_CLK"] = "CLK0"
            params[f"p_REG_{reg}_CE"] = "CE0"
            params[f"p_REG_{reg}_RST"] = "RST0"
        params["p_REG_INPUTC_CLK"] = "NONE"
        m.submodules.mult18 = Instance(
            "MULT18X18D",
            **params,
            p_CLK0_DIV="ENABLED",
            p_HIGHSPEED_CLK="NONE",
            p_GSR="DISABLED",
            p_CAS_MATCH_REG="FALSE",
            p_SOURCEB_MODE="B_SHIFT",
            p_MULT_BYPASS="DISABLED",
            p_RESETMODE="SYNC",
            **ports,
        )

    def _ice40(self, m: Module) -> None:
        # SB_MAC16 as a 16x16 signed multiplier: A and B registered (A_REG, B_REG), the
        # four 8x8 partial products registered (TOP/BOT_8x8_MULT_REG,
        # PIPELINE_16x16_MULT_REG1), their 32-bit sum registered (PIPELINE_16x16_MULT_REG2)
        # and put on O (output selects 3): three stages, the accumulator unused. CE high,
        # no hold, no reset.
        a = Signal(signed(16), name="a_ext")
        b = Signal(signed(16), name="b_ext")
        p = Signal(signed(32), name="p_full")
        m.d.comb += [a.eq(self.a), b.eq(self.b), self.p.eq(p[: len(self.p)])]
        one, zero = Const(1, 1), Const(0, 1)
        m.submodules.mac16 = Instance(
            "SB_MAC16",
            p_NEG_TRIGGER=Const(0, 1),
            p_C_REG=Const(0, 1),
            p_A_REG=Const(1, 1),
            p_B_REG=Const(1, 1),
            p_D_REG=Const(0, 1),
            p_TOP_8x8_MULT_REG=Const(1, 1),
            p_BOT_8x8_MULT_REG=Const(1, 1),
            p_PIPELINE_16x16_MULT_REG1=Const(1, 1),
            p_PIPELINE_16x16_MULT_REG2=Const(1, 1),
            p_TOPOUTPUT_SELECT=Const(3, 2),
            p_TOPADDSUB_LOWERINPUT=Const(0, 2),
            p_TOPADDSUB_UPPERINPUT=Const(0, 1),
            p_TOPADDSUB_CARRYSELECT=Const(0, 2),
            p_BOTOUTPUT_SELECT=Const(3, 2),
            p_BOTADDSUB_LOWERINPUT=Const(0, 2),
            p_BOTADDSUB_UPPERINPUT=Const(0, 1),
            p_BOTADDSUB_CARRYSELECT=Const(0, 2),
            p_MODE_8x8=Const(0, 1),
            p_A_SIGNED=Const(1, 1),
            p_B_SIGNED=Const(1, 1),
            i_CLK=ClockSignal(),
            i_CE=one,
            i_A=a,
            i_B=b,
            i_C=Const(0, 16),
            i_D=Const(0, 16),
            i_AHOLD=zero,
            i_BHOLD=zero,
            i_CHOLD=zero,
            i_DHOLD=zero,
            i_IRSTTOP=zero,
            i_IRSTBOT=zero,
            i_ORSTTOP=zero,
            i_ORSTBOT=zero,
            i_OLOADTOP=zero,
            i_OLOADBOT=zero,
            i_ADDSUBTOP=zero,
            i_ADDSUBBOT=zero,
            i_OHOLDTOP=zero,
            i_OHOLDBOT=zero,
            i_CI=zero,
            i_ACCUMCI=zero,
            i_SIGNEXTIN=zero,
            o_O=p,
        )
