"""The output stage: bias, ReLU and requantisation, exactly as the golden model, in a
two-stage pipeline between the output buffer and the results stream."""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int
from .timing import OUTPUT_STAGES

EARLY_LEVELS = 3
"""With ``biased=True``, the shifter's levels that run in stage 1 (the largest shifts):
stage 1 has no adder then, and stage 2 is left with the rest."""

__all__ = ["EARLY_LEVELS", "OutputStage", "result_row", "shift_levels"]


def shift_levels(
    bits: list[Value], sign: Value, shift: Value, levels: range, width: int
) -> list[Value]:
    """``bits`` shifted right by the ``levels`` bits of ``shift`` (largest first),
    ``sign`` shifting in from the top: a log shifter that computes only the low ``width``
    bits a window needs, level by level, so that a pipeline can do its upper levels in one
    stage and the rest in the next.

    Each level keeps only the ``width`` bits plus the shifts still to come (every level
    below it), so the levels hold ``width + 1``, ``width + 3``, ... bits instead of all
    of ``bits`` (71 two-input multiplexers for 9 bits of 33, against 165 for a full
    barrel shifter, which is what Yosys builds for ``>>``).
    """
    for k in sorted(levels, reverse=True):
        step = 1 << k
        keep = min(len(bits), width + step - 1)
        padded = bits + [sign] * step  # arithmetic: the sign shifts in from the top
        bits = [Mux(shift[k], padded[i + step], bits[i]) for i in range(keep)]
    return bits


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

    Three registered stages (``timing.OUTPUT_STAGES``), so that neither the wide adder nor
    the shifter sits on a path to the results port: stage 1 adds the bias, stage 2 shifts,
    rounds and finds whether the shifted value fits, stage 3 saturates; ReLU is a zero
    in the last multiplexer. With ``biased`` the bias comes added (``i.payload.bias`` is
    not read) and stage 1 does the shifter's upper ``EARLY_LEVELS`` levels instead. The
    requantiser has no adder or comparator wider than ``a_bits``: it shifts out only the
    ``a_bits + 1`` bits it keeps, and finds
    saturation as "the bits at and above the result's sign are not all equal". ``relu``,
    ``requant`` and ``shift`` are taken with each beat as it enters. The pipeline moves
    whenever its skid register is empty, and a result that finds the output register taken
    waits there, so ``i.ready`` is a flip-flop (the results port's ``ready`` reaches no
    enable upstream); without back-pressure the stage adds 3 cycles of latency and none of
    throughput. ``pending`` is high while a result is in stage 1, stage 2 or the skid;
    ``ready_next_if_stalled`` is what ``i.ready`` will be in the next cycle if ``o.ready``
    is low now (it will be high if ``o.ready`` is high): a function of flip-flops only, so
    that a user registering what it does with ``i.ready`` can put the results port's
    ``ready`` in its last gate.
    """

    def __init__(self, *, cols: int, a_bits: int, acc_bits: int, biased: bool = False):
        self._cols = check_int("cols", cols, 1, 256)
        self._biased = bool(biased)
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
                "ready_next_if_stalled": Out(1),
            }
        )

    def elaborate(self, platform):
        assert OUTPUT_STAGES == 3  # the three stages below
        m = Module()
        n, a, C = self._acc_bits, self._a_bits, self._cols
        lo, hi = -(1 << (a - 1)), (1 << (a - 1)) - 1
        # The pipeline moves while the skid register is empty: `advance` is a flip-flop's
        # inverse, so the results port's `ready` reaches only the output and skid
        # registers, never the stages' enables or whatever drives `i` (on the dense 8x8 it
        # ran through `i.ready` into the enables of the 2,300-bit output buffer).
        skid_valid = Signal()
        advance = ~skid_valid
        m.d.comb += self.i.ready.eq(advance)

        # Stage 1: the bias added (wrapping); ReLU only noted (``kill``: applied at the end,
        # where it costs nothing beyond the output multiplexer).
        valid1 = Signal()
        biased = [Signal(signed(n), name=f"biased{c}") for c in range(C)]
        kill = [Signal(name=f"kill{c}") for c in range(C)]
        requant1 = Signal()
        shift1 = Signal.like(self.shift)
        above = Signal(n)
        above1 = Signal(n)
        # Comb values are assigned outside any If: Icarus does not evaluate `always @*`
        # blocks at time 0, and a value assigned in a branch would read X until it changes.
        sums = [Signal(signed(n), name=f"sum{c}") for c in range(C)]
        for c in range(C):
            if self._biased:  # the bias is in already: `i.payload.bias` is not read
                m.d.comb += sums[c].eq(self.i.payload.acc[c])
            else:
                m.d.comb += sums[c].eq(self.i.payload.acc[c] + self.i.payload.bias)  # wraps
        # the shifter's upper levels, in stage 1 when it has no adder (`biased`); the
        # rounding bit y[shift - 1] is bit `shift` of Cat(0, y)
        levels = len(self.shift)
        early = range(max(levels - EARLY_LEVELS, 0), levels) if self._biased else range(0)
        late = range(levels - len(early))
        # what stage 2 shifts further: a + 1 bits plus the shifts still to come
        partial = [
            Signal(min(n + 1, a + (1 << len(late))), name=f"partial{c}") for c in range(C)
        ]
        # above[i]: bit i of y is at or above the result's sign bit after the shift
        # (i >= shift + a_bits - 1); the value fits a_bits iff those bits are all equal.
        # A function of `shift` alone, the same for every column and beat.
        # (a table, not n comparators: each bit is a small function of `shift`)
        masks = [((1 << n) - 1) & ~((1 << (sh + a - 1)) - 1) for sh in range(n)]
        m.d.comb += above.eq(Array(Const(mask, n) for mask in masks)[self.shift])
        with m.If(advance):
            m.d.sync += [
                valid1.eq(self.i.valid),
                requant1.eq(self.requant),
                shift1.eq(self.shift),
                above1.eq(above),
            ]
            for c in range(C):
                m.d.sync += [biased[c].eq(sums[c]), kill[c].eq(self.relu & sums[c][-1])]
                if early:
                    bits = [Const(0, 1)] + [sums[c][i] for i in range(n)]
                    upper = shift_levels(bits, sums[c][-1], self.shift, early, a + 1)
                    m.d.sync += partial[c].eq(Cat(*upper[: len(partial[c])]))

        # Stage 2: the shift, without a wide shifter: only the window that holds
        # y[shift - 1] (the rounding bit) and the a_bits result bits is shifted out
        # (`shift_levels`), and the rounding bit added to it (an a_bits + 1 wide sum:
        # only hi + 1 can leave the a_bits range); beside it, whether the shifted value
        # fits a_bits; the raw result (no requantisation) is final here.
        valid2 = Signal()
        requant2 = Signal()
        windows = [Signal(a + 1, name=f"window{c}") for c in range(C)]  # comb
        rounded2 = [Signal(signed(a + 1), name=f"rounded{c}") for c in range(C)]
        raws = [Signal(signed(n), name=f"raw{c}") for c in range(C)]
        fits2 = [Signal(name=f"fits2_{c}") for c in range(C)]
        negative = [Signal(name=f"negative{c}") for c in range(C)]
        kill2 = [Signal(name=f"kill2_{c}") for c in range(C)]
        with m.If(advance):
            m.d.sync += [valid2.eq(valid1), requant2.eq(requant1)]
            for c in range(C):
                y = biased[c]
                bits = y.as_unsigned()
                # (without the early levels, stage 2 shifts Cat(0, y) itself)
                source = list(partial[c]) if early else [Const(0, 1)] + [y[i] for i in range(n)]
                m.d.comb += windows[c].eq(
                    Cat(*shift_levels(source, y[-1], shift1, late, a + 1)[: a + 1])
                )
                m.d.sync += [
                    rounded2[c].eq(windows[c][1:].as_signed() + windows[c][0]),
                    raws[c].eq(Mux(kill[c], 0, y)),
                    fits2[c].eq(((bits & above1) == 0) | ((bits | ~above1) == (1 << n) - 1)),
                    negative[c].eq(y[-1]),
                    kill2[c].eq(kill[c]),
                ]
        m.d.comb += self.pending.eq(valid1 | valid2 | skid_valid)

        # Stage 3: saturate, without an adder or a comparator: the rounded value is hi + 1
        # where its top two bits differ, and whether the value fits a_bits was found in
        # stage 2.
        ys = []
        for c in range(C):
            r = rounded2[c]
            rounded = Mux(r[a] ^ r[a - 1], hi, r[:a].as_signed())
            saturated = Mux(fits2[c], rounded, Mux(negative[c], lo, hi))
            out = Signal(signed(n), name=f"y{c}")  # acc_bits wide: the beat's field
            m.d.comb += out.eq(Mux(requant2, Mux(kill2[c], 0, saturated), raws[c]))
            ys.append(out)
        # The output register takes stage 3's result when it is free; when it is not, the
        # result waits in the skid register (and the pipeline holds) until it is.
        # Without back-pressure the skid is never used: 3 cycles of latency as before.
        skid = Signal(len(self.o.payload.as_value()))
        result = Cat(*ys)
        free = ~self.o.valid | self.o.ready
        with m.If(free):
            m.d.sync += [
                self.o.valid.eq(skid_valid | valid2),
                # one vector: see WindowQueue
                self.o.payload.as_value().eq(Mux(skid_valid, skid, result)),
            ]
        with m.Elif(advance):
            m.d.sync += skid.eq(result)
        # the skid's next state; `i.ready` next is `free | (~skid_valid & ~valid2)`, whose
        # part without `o.ready` is the port below
        skid_valid_next = Mux(free, 0, Mux(advance, valid2, skid_valid))
        m.d.sync += skid_valid.eq(skid_valid_next)
        m.d.comb += self.ready_next_if_stalled.eq(~self.o.valid | (~skid_valid & ~valid2))
        return m
