"""The output stage: bias, ReLU and requantisation, exactly as the golden model, in a
two-stage pipeline between the output buffer and the results stream."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int
from .timing import OUTPUT_STAGES

__all__ = ["OutputStage", "result_row"]


def result_row(cols: int, acc_bits: int) -> data.StructLayout:
    """What enters the stage: one PE row's accumulators and that row's bias."""
    return data.StructLayout(
        {"acc": data.ArrayLayout(signed(acc_bits), cols), "bias": signed(acc_bits)}
    )


class OutputStage(wiring.Component):
    """``cols`` accumulators of one PE row in, their results out, as streams.

    ``y = wrap(acc + bias)`` (accumulator width), then ``max(y, 0)`` if ``relu``, then,
    if ``requant``, ``(y >> shift) + y[shift - 1]`` (round half up; plain ``y`` for shift
    0) saturated to the signed ``a_bits`` range. Results leave sign-extended to
    ``acc_bits``.

    Two registered stages (``timing.OUTPUT_STAGES``), so that neither the wide adders nor
    the shifters sit on a path to the results port: stage 1 adds the bias and applies
    ReLU, stage 2 rounds, shifts and saturates. ``relu``, ``requant`` and ``shift`` are
    taken with each beat as it enters. The pipeline moves whenever its output is free
    (``o.ready`` or no result waiting), so it adds 2 cycles of latency and none of
    throughput; ``pending`` is high while a result is in stage 1.
    """

    def __init__(self, *, cols: int, a_bits: int, acc_bits: int):
        self._cols = check_int("cols", cols, 1, 256)
        self._a_bits = check_int("a_bits", a_bits, 2, 32)
        self._acc_bits = check_int("acc_bits", acc_bits, a_bits, 64)
        acc = signed(acc_bits)
        super().__init__(
            {
                "i": In(stream.Signature(result_row(cols, acc_bits))),
                "o": Out(stream.Signature(data.ArrayLayout(acc, cols))),
                "relu": In(1),
                "requant": In(1),
                "shift": In(range(acc_bits)),
                "pending": Out(1),
            }
        )

    def elaborate(self, platform):
        assert OUTPUT_STAGES == 2  # the two stages below
        m = Module()
        n, C = self._acc_bits, self._cols
        lo, hi = -(1 << (self._a_bits - 1)), (1 << (self._a_bits - 1)) - 1
        advance = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(advance)

        # Stage 1: bias and ReLU.
        valid1 = Signal()
        rectified = [Signal(signed(n), name=f"rectified{c}") for c in range(C)]
        requant1 = Signal()
        shift1 = Signal.like(self.shift)
        m.d.comb += self.pending.eq(valid1)
        # Comb values are assigned outside any If: Icarus does not evaluate `always @*`
        # blocks at time 0, and a value assigned in a branch would read X until it changes.
        biased = [Signal(signed(n), name=f"biased{c}") for c in range(C)]
        for c in range(C):
            m.d.comb += biased[c].eq(self.i.payload.acc[c] + self.i.payload.bias)  # wraps
        with m.If(advance):
            m.d.sync += [valid1.eq(self.i.valid), requant1.eq(self.requant), shift1.eq(self.shift)]
            for c in range(C):
                m.d.sync += rectified[c].eq(Mux(self.relu & (biased[c] < 0), 0, biased[c]))

        # Stage 2: round half up, shift, saturate.
        ys = []
        for c in range(C):
            y = rectified[c]
            half = ((y << 1) >> shift1)[0]  # y[shift - 1], and 0 for shift 0
            shifted = Signal(signed(n + 1), name=f"shifted{c}")
            m.d.comb += shifted.eq((y >> shift1) + half)
            saturated = Mux(shifted > hi, hi, Mux(shifted < lo, lo, shifted))
            out = Signal(signed(n), name=f"y{c}")  # acc_bits wide: the beat's field
            m.d.comb += out.eq(Mux(requant1, saturated, y))
            ys.append(out)
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(valid1),
                self.o.payload.as_value().eq(Cat(*ys)),  # one vector: see WindowQueue
            ]
        return m
