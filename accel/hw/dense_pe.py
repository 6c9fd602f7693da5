"""A PE of the dense reference array: one DSP multiplier and a pipelined accumulator."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fabric import MULTIPLIER_LATENCY, ClearingAdder, Multiplier
from .fabric.lut_multiplier import LUT_MULTIPLIER_LATENCY, LUTMultiplier
from .params import check_int
from .timing import DENSE_PRODUCT

__all__ = ["DensePE"]


class DensePE(wiring.Component):
    """PE(r, c) of the dense array: ``acc += w * x`` every valid cycle, output stationary.

    ``w`` and ``x`` enter the multiplier's input registers (a DSP with its input, pipeline
    and output registers on), two fabric registers carry the product to the accumulator,
    ``timing.DENSE_PRODUCT`` cycles after the operands. ``valid`` and ``first`` are aligned
    with the product's arrival: a valid product is added, and the first product of a tile
    replaces the sum (no clear cycle between tiles, so tiles run back to back). The bias
    is not added here but in the output stage, as the zero-skipping array does: the sums
    wrap at ``acc_bits``, so the result is the same, and no bank multiplexer spanning the
    array sits in front of every accumulator's carry chain.

    The accumulator is split so that no carry chain is longer than the product: the low
    ``lo_bits`` (the product's width) add the product, and one cycle later the high bits
    add the low half's carry and the product's sign. ``acc``'s low bits hold a tile's sum
    one cycle after its last product arrived, its high bits two cycles after; the array
    captures each half in its cycle. Adds wrap at ``acc_bits``, as the golden model's.
    """

    def __init__(
        self,
        *,
        w_bits: int,
        a_bits: int,
        acc_bits: int,
        fabric: str = "generic",
        lut_multiplier: bool = False,
    ):
        self._w_bits = check_int("w_bits", w_bits, 2, 18)
        self._a_bits = check_int("a_bits", a_bits, 2, 18)
        self._acc_bits = check_int("acc_bits", acc_bits, w_bits + a_bits, 64)
        self._fabric = fabric
        self._lut_multiplier = bool(lut_multiplier)
        super().__init__(
            {
                "w": In(signed(w_bits)),
                "x": In(signed(a_bits)),
                "valid": In(1),
                "first": In(1),
                "acc": Out(signed(acc_bits)),
            }
        )

    @property
    def lo_bits(self) -> int:
        """Width of the accumulator's low half (the high half has at least one bit)."""
        return min(self._w_bits + self._a_bits, self._acc_bits - 1)

    def elaborate(self, platform):
        assert DENSE_PRODUCT == MULTIPLIER_LATENCY + 2 == LUT_MULTIPLIER_LATENCY + 2
        m = Module()
        n = self._w_bits + self._a_bits
        lo, hi = self.lo_bits, self._acc_bits - self.lo_bits
        if self._lut_multiplier:  # beyond the device's DSPs: the same latency in logic
            mul = LUTMultiplier(a_bits=self._w_bits, b_bits=self._a_bits)
        else:
            mul = Multiplier(a_bits=self._w_bits, b_bits=self._a_bits, fabric=self._fabric)
        m.submodules.mul = mul
        m.d.comb += [mul.a.eq(self.w), mul.b.eq(self.x)]
        # two fabric registers between the DSP and the adders: the DSP's output pins are
        # far from the logic, and the adder's carry chain must not start at them
        product_a = Signal(signed(n))
        product = Signal(signed(n))
        m.d.sync += [product_a.eq(mul.p), product.eq(product_a)]

        acc_lo = Signal(unsigned(lo))
        acc_hi = Signal(unsigned(hi))
        # The low half adds the product's low bits; its carry and the product's bits above
        # it (sign-extended, so at least the sign) are registered as they are, each flop
        # right at its source, and the high half adds them a cycle later. A tile's first
        # product replaces the sum: the adder's first operand is cleared.
        # (`ClearingAdder`: on ECP5 the "replace" is a mask inside the carry chain, no
        # multiplexer at all; 0 + product never carries, so the carry is the adder's)
        above = (product >> lo) if lo < n else Mux(product[-1], -1, 0)
        above_q = Signal(signed(max(n - lo, 1)))
        carry = Signal()
        m.submodules.add_lo = add_lo = ClearingAdder(width=lo, fabric=self._fabric)
        m.d.comb += [add_lo.a.eq(acc_lo), add_lo.b.eq(product[:lo]), add_lo.clear.eq(self.first)]
        valid_hi = Signal()
        first_hi = Signal()
        m.d.sync += [valid_hi.eq(self.valid), first_hi.eq(self.first)]
        with m.If(self.valid):
            m.d.sync += [
                acc_lo.eq(add_lo.s[:lo]),
                carry.eq(add_lo.s[lo]),
                above_q.eq(above),
            ]
        step = Signal(signed(above_q.shape().width + 1))
        m.d.comb += step.eq(above_q + carry)
        m.submodules.add_hi = add_hi = ClearingAdder(width=hi, fabric=self._fabric)
        m.d.comb += [add_hi.a.eq(acc_hi), add_hi.b.eq(step), add_hi.clear.eq(first_hi)]
        with m.If(valid_hi):
            m.d.sync += acc_hi.eq(add_hi.s[:hi])
        m.d.comb += self.acc.eq(Cat(acc_lo, acc_hi))
        return m
