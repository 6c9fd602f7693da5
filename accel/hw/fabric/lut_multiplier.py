"""A signed multiplier in fabric logic, pipelined like the DSP one: for the products beyond
the FPGA's DSP blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth import Cat, Const, Module, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .multiplier import MULTIPLIER_LATENCY

__all__ = ["LUT_MULTIPLIER_LATENCY", "LUTMultiplier"]

LUT_MULTIPLIER_LATENCY = MULTIPLIER_LATENCY
"""The same as the DSP multiplier's: operands in cycle t, product on ``p`` in cycle t + 3
(input registers, one register inside the adder tree, output register)."""


Bit = Value | int  # one bit of a partial-product row: a 1-bit value or the constant 0 or 1


@dataclass
class _Row:
    """Bits at weights ``2**lo``, ``2**(lo + 1)``, ...; ``cin``: a bit of weight ``2**lo``
    that the adder merging this row onto the rows below it takes as its carry-in."""

    lo: int
    bits: list[Bit]
    cin: Value | None = None

    @property
    def top(self) -> int:
        return self.lo + len(self.bits) - 1


@dataclass
class _Sum:
    """An unsigned vector at weight ``2**lo`` no greater than ``max``, and the carry-ins
    still owed to the merges above it (``lo`` of the row they belong to, bit)."""

    lo: int
    value: Value
    max: int
    cins: dict[int, Value] = field(default_factory=dict)


class LUTMultiplier(wiring.Component):
    """``p = a * b`` (signed), ``LUT_MULTIPLIER_LATENCY`` cycles later, every cycle, in
    LUTs and carry chains: no DSP block.

    A drop-in for :class:`~accel.hw.fabric.Multiplier` (same ports, same latency, no clock
    enable, no reset) for the products a device has no DSP for: a 16x16 int8 array needs
    256 multipliers and an LFE5U-85 has 156 MULT18X18D. Yosys never sees a ``$mul`` (on
    ECP5 it would map one to a DSP, without ``-nodsp`` to a slow unpipelined array): the
    product is built here and pipelined for a fast fabric clock.

    Structure: the narrower operand ``y`` is written ``y[0] + 2 * (y >> 1)`` and ``y >> 1``
    is radix-4 Booth recoded (digits -2..2), so the partial products are one AND row
    (``y[0] * x``) and ``ceil((len(y) - 1) / 2)`` Booth rows, each bit one 4- or 5-input
    function of the operand bits (one LUT4, or two and a PFU mux). Sign extension is by
    complemented sign bits and constant ones; each Booth row's "+1" of its negation is the
    carry-in of the adder that merges it, so every row is merged by a two-operand carry
    chain (CCU2C on ECP5) with nothing left over. Registers: the operands (the inputs of
    the array's own registers, never logic), the sums after the first level of the adder
    tree, and the product.

    Parameters
    ----------
    a_bits, b_bits:
        Operand widths, signed, 2..18 (the DSP multiplier's range).
    """

    def __init__(self, *, a_bits: int, b_bits: int):
        self._a_bits = check_int("a_bits", a_bits, 2, 18)
        self._b_bits = check_int("b_bits", b_bits, 2, 18)
        super().__init__(
            {
                "a": In(signed(a_bits)),
                "b": In(signed(b_bits)),
                "p": Out(signed(a_bits + b_bits)),
            }
        )

    # levels of the adder tree before the middle register (the rest come after it)
    _levels_before_register: int | None = None

    def elaborate(self, platform):
        m = Module()
        a = Signal.like(self.a, name="a_in", reset_less=True)
        b = Signal.like(self.b, name="b_in", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b)]
        x, y = (a, b) if len(a) >= len(b) else (b, a)  # Booth-recode the narrower one
        width = len(self.p)
        rows = _partial_products(x, y, width)
        # a balanced tree of two-operand merges, in levels
        sums = [_Sum(r.lo, _row_value(r), _row_max(r), {r.lo: r.cin} if r.cin is not None
                     else {}) for r in rows]
        depth = max(1, (len(sums) - 1).bit_length())
        before = self._levels_before_register
        if before is None:
            before = (depth + 1) // 2
        for level in range(depth):
            if level == before:
                sums = [_register(m, s, f"s{level}_{i}") for i, s in enumerate(sums)]
            merged = []
            for i in range(0, len(sums) - 1, 2):
                merged.append(_merge(sums[i], sums[i + 1], width))
            if len(sums) % 2:
                merged.append(sums[-1])
            sums = merged
        if before >= depth:
            sums = [_register(m, s, f"s{depth}_{i}") for i, s in enumerate(sums)]
        (total,) = sums
        assert total.lo == 0 and not total.cins
        out = Signal.like(self.p, name="p_out", reset_less=True)
        m.d.sync += out.eq(total.value)
        m.d.comb += self.p.eq(out)
        return m


def _partial_products(x: Value, y: Value, width: int) -> list[_Row]:
    """Rows whose sum is ``x * y`` modulo ``2**width`` (``x``, ``y`` signed)."""
    mx, ny = len(x), len(y)

    def xb(j: int) -> Bit:  # x sign-extended, 0 below bit 0
        return 0 if j < 0 else x[min(j, mx - 1)]

    def zi(k: int) -> int | None:  # z = y >> 1, sign-extended: the bit of y, None below 0
        return None if k < 0 else min(k + 1, ny - 1)

    rows: list[_Row] = []
    signs: list[int] = []  # positions of the complemented sign bits: -2**pos each
    # y[0] * x
    y0 = y[0]
    bits: list[Bit] = [y0 & x[j] for j in range(mx - 1)] + [~(y0 & x[mx - 1])]
    rows.append(_Row(0, bits))
    signs.append(mx - 1)
    # radix-4 Booth digits of z = y >> 1 (ny - 1 bits, signed): z[2i-1] + z[2i] - 2 z[2i+1]
    for i in range((ny - 1 + 1) // 2):
        k_hi, k_mid, k_lo = zi(2 * i + 1), zi(2 * i), zi(2 * i - 1)
        hi, mid = y[k_hi], y[k_mid]
        lo: Bit = 0 if k_lo is None else y[k_lo]
        one = mid ^ lo if k_lo is not None else mid
        two_possible = k_hi != k_mid  # the top digit of a sign-extended z is -1..1
        if k_lo is None:
            two = hi & ~mid
        else:
            two = (hi & ~mid & ~lo) | (~hi & mid & lo)
        neg = hi
        n = mx + 1 if two_possible else mx  # the row's width in bits, sign included
        bits = []
        for j in range(n):
            if two_possible:
                xj, xj1 = xb(j), xb(j - 1)
                sel = (one & xj) | (two & xj1) if not isinstance(xj1, int) else one & xj
            else:
                sel = one & xb(j)
            bits.append(sel ^ neg)
        bits[-1] = ~bits[-1]
        row = _Row(1 + 2 * i, bits, cin=neg)
        rows.append(row)
        signs.append(row.top)
    # the constant: -sum(2**pos) modulo 2**width, as ones in free places above the rows
    const = -sum(1 << s for s in signs) % (1 << width)
    q = 0
    while const >> q:
        if not (const >> q) & 1:
            q += 1
            continue
        const -= 1 << q
        below = [r for r in rows if r.top == q - 1]
        if below:
            # the highest-starting row: the merge that takes it is the shortest
            max(below, key=lambda r: r.lo).bits.append(1)
        else:
            at = [r for r in rows if r.top == q]
            assert at, (mx, ny, q)
            row = at[0]
            if isinstance(row.bits[-1], int):  # 1 + 1 at q == 1 at q + 1
                row.bits[-1] = 0
                const += 2 << q
            else:  # ~s + 1 at q == s at q, ~s at q + 1
                inv = row.bits[-1]
                row.bits[-1] = ~inv
                row.bits.append(inv)
        q += 1
    for r in rows:
        del r.bits[max(0, width - r.lo) :]
    return [r for r in rows if r.bits or r.cin is not None]


def _row_value(row: _Row) -> Value:
    return Cat(*(Const(b, 1) if isinstance(b, int) else b for b in row.bits))


def _row_max(row: _Row) -> int:
    return sum(1 << j for j, b in enumerate(row.bits) if not (isinstance(b, int) and b == 0))


def _merge(low: _Sum, high: _Sum, width: int) -> _Sum:
    """``low + high`` (+ the carry-in owed at ``high.lo``) by one carry chain, starting
    where the two overlap; the bits of ``low`` below that pass through."""
    assert low.lo <= high.lo
    cins = {**low.cins, **high.cins}
    cin = cins.pop(high.lo, None)
    k = high.lo - low.lo
    room = width - high.lo  # bits above high.lo that the product keeps
    lo_bits = low.value[:k]
    lo_max = low.max & ((1 << k) - 1)
    hi_max = (low.max >> k) + high.max + (1 if cin is not None else 0)
    n = min(hi_max.bit_length(), room)
    total = low.value[k:] + high.value
    if cin is not None:
        total = total + cin
    gap = [Const(0, k - len(lo_bits))] if k > len(lo_bits) else []
    value = Cat(lo_bits, *gap, total[:n])
    return _Sum(low.lo, value, min(lo_max + (hi_max << k), (1 << (width - low.lo)) - 1), cins)


def _register(m: Module, s: _Sum, name: str) -> _Sum:
    reg = Signal(len(s.value), name=name, reset_less=True)
    m.d.sync += reg.eq(s.value)
    cins = {}
    for lo, bit in s.cins.items():
        c = Signal(name=f"{name}_c{lo}", reset_less=True)
        m.d.sync += c.eq(bit)
        cins[lo] = c
    return _Sum(s.lo, reg, s.max, cins)
