"""The processing element: ``lanes`` multiply-accumulates into one output-stationary
accumulator, with operand gating."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """PE(r, c): accumulates ``sum_l w[l] * x[l]`` for the lanes issued this cycle.

    Three pipeline stages (``timing.PE_STAGES``): operands are registered at the end of
    the issue cycle, their product one cycle later (the multiplier's output register),
    and the accumulator adds it one cycle after that (wrapping at ``acc_bits``). An issued
    lane with a zero operand is *gated*: its operand registers keep their old values, so
    the multiplier inputs do not toggle, and it adds nothing.

    Ports: ``w``, ``x`` lane operands; ``issue`` one bit per lane; ``clear`` zeroes the
    accumulator (after its value was captured); ``acc`` the accumulator; ``effectual`` the
    lanes whose products the accumulator adds in this cycle (issued one cycle earlier with
    both operands nonzero), from registers, for the event counters.
    """

    def __init__(self, *, lanes: int, w_bits: int, a_bits: int, acc_bits: int):
        self._lanes = check_int("lanes", lanes, 1, 64)
        self._w_bits = check_int("w_bits", w_bits, 2, 32)
        self._a_bits = check_int("a_bits", a_bits, 2, 32)
        self._acc_bits = check_int("acc_bits", acc_bits, w_bits + a_bits, 64)
        super().__init__(
            {
                "w": In(data.ArrayLayout(signed(w_bits), lanes)),
                "x": In(data.ArrayLayout(signed(a_bits), lanes)),
                "issue": In(lanes),
                "clear": In(1),
                "acc": Out(signed(acc_bits)),
                "effectual": Out(range(lanes + 1)),
            }
        )

    @property
    def lanes(self) -> int:
        return self._lanes

    def elaborate(self, platform):
        m = Module()
        products, valids = [], []
        for lane in range(self._lanes):
            w = Signal(signed(self._w_bits), name=f"w_reg{lane}")
            x = Signal(signed(self._a_bits), name=f"x_reg{lane}")
            valid = Signal(name=f"valid{lane}")
            effectual = self.issue[lane] & (self.w[lane] != 0) & (self.x[lane] != 0)
            m.d.sync += valid.eq(effectual)
            with m.If(effectual):  # gating: a zero operand leaves the multiplier still
                m.d.sync += [w.eq(self.w[lane]), x.eq(self.x[lane])]
            # the product register: the DSP's output register on an FPGA
            product = Signal(signed(self._w_bits + self._a_bits), name=f"product{lane}")
            landed = Signal(name=f"landed{lane}")
            m.d.sync += [product.eq(w * x), landed.eq(valid)]
            products.append(Mux(landed, product, 0))
            valids.append(valid)
        acc = Signal(signed(self._acc_bits))
        with m.If(self.clear):
            m.d.sync += acc.eq(0)
        with m.Else():
            m.d.sync += acc.eq(acc + sum(products))  # truncation wraps to acc_bits
        m.d.comb += [self.acc.eq(acc), self.effectual.eq(sum(valids))]
        return m
