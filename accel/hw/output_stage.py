"""The output stage: bias, ReLU and requantisation, exactly as the golden model."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["OutputStage"]


class OutputStage(wiring.Component):
    """Combinational, on ``cols`` accumulators of one PE row.

    ``y = wrap(acc + bias)`` (accumulator width), then ``max(y, 0)`` if ``relu``, then,
    if ``requant``, ``(y >> shift) + y[shift - 1]`` (round half up; plain ``y`` for shift
    0) saturated to the signed ``a_bits`` range. Results leave sign-extended to
    ``acc_bits``.
    """

    def __init__(self, *, cols: int, a_bits: int, acc_bits: int):
        self._cols = check_int("cols", cols, 1, 256)
        self._a_bits = check_int("a_bits", a_bits, 2, 32)
        self._acc_bits = check_int("acc_bits", acc_bits, a_bits, 64)
        acc = signed(acc_bits)
        super().__init__(
            {
                "acc": In(data.ArrayLayout(acc, cols)),
                "bias": In(acc),
                "relu": In(1),
                "requant": In(1),
                "shift": In(range(acc_bits)),
                "y": Out(data.ArrayLayout(acc, cols)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        n = self._acc_bits
        lo, hi = -(1 << (self._a_bits - 1)), (1 << (self._a_bits - 1)) - 1
        ys = []
        for c in range(self._cols):
            biased = Signal(signed(n), name=f"biased{c}")
            rectified = Signal(signed(n), name=f"rectified{c}")
            shifted = Signal(signed(n + 1), name=f"shifted{c}")
            m.d.comb += [
                biased.eq(self.acc[c] + self.bias),  # truncation wraps, as the accumulator
                rectified.eq(Mux(self.relu & (biased < 0), 0, biased)),
            ]
            half = ((rectified << 1) >> self.shift)[0]  # y[shift - 1], and 0 for shift 0
            m.d.comb += shifted.eq((rectified >> self.shift) + half)
            saturated = Mux(shifted > hi, hi, Mux(shifted < lo, lo, shifted))
            y = Signal(signed(n), name=f"y{c}")
            m.d.comb += y.eq(Mux(self.requant, saturated, rectified))
            ys.append(y)
        m.d.comb += self.y.as_value().eq(Cat(*ys))  # one vector: see WindowQueue
        return m
