"""A signed multiplier in LUTs and carry chains, with the DSP multiplier's ports and
latency: for the products beyond the FPGA's DSP blocks."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Const, Module, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .multiplier import MULTIPLIER_LATENCY

__all__ = ["LUT_MULTIPLIER_LATENCY", "LUTMultiplier"]

LUT_MULTIPLIER_LATENCY = MULTIPLIER_LATENCY
"""The DSP multiplier's: operands presented in cycle t give their product on ``p`` in cycle
t + 3 (input registers, one register inside the adder tree, output register)."""


class LUTMultiplier(wiring.Component):
    """``p = a * b`` (signed), ``LUT_MULTIPLIER_LATENCY`` cycles later, every cycle, in
    fabric logic: no DSP block.

    A drop-in for :class:`~accel.hw.fabric.Multiplier` (the same ports, the same latency,
    no clock enable, no reset) for the products a device has no DSP for: a 16x16 int8
    array needs 256 multipliers, an LFE5U-85 has 156 MULT18X18D. Yosys never sees a
    ``$mul`` (it would map it to a DSP, or with ``-nodsp`` to a large unpipelined array of
    LUTs: 290 LUT4 + 8 CCU2C at 124 MHz for int8 on ECP5): the product is built here from
    LUTs and two-operand adders (CCU2C carry chains on ECP5), pipelined for a fast clock.

    Structure. The narrower operand ``y`` is written ``y[0] + 2 * (y >> 1)`` and
    ``y >> 1`` is radix-4 Booth recoded (digits -2..2): one AND row ``y[0] * x`` and
    ``len(y) // 2`` Booth rows, each bit one LUT (a 4-input function, or a 5-input one: two
    LUT4 and a PFU mux). A negative digit's row is the complement of ``|digit| * x``; the
    "+1" that completes its negation is the carry-in of the adder that adds the row to the
    rows below it: with the AND row there is exactly one adder per such "+1" (plain Booth,
    whose lowest row is negative too, would leave one over). Sign extension: complemented
    sign bits and constant ones, placed where they cost nothing. Exact value ranges of the
    partial sums size every adder to what the sum can reach.

    Pipeline. The operand registers (the array's operands arrive from registers and meet
    no logic before these), the partial sums, the product. For int8 (up to 11 bits for
    the narrower operand): the rows and one level of adders before the middle register
    (3 sums), then 3:2 counters in LUTs and one carry chain. Both stages are one LUT level
    and one carry chain: 109 LUT-level cells (75 LUT4 + 17 CCU2C) and 65 flip-flops for
    8x8, 212-221 MHz for 16 of them at speed 6 on an LFE5U-85F (carry chains alone, with
    two chained adders after the middle register: 102 cells, 173-179 MHz). Wider operands
    take one or two more adder levels and run slower (12x12: 147 MHz, 16x16: 126 MHz).

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

    def elaborate(self, platform):
        m = Module()
        a = Signal.like(self.a, name="a_in", reset_less=True)
        b = Signal.like(self.b, name="b_in", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b)]
        x, y = (a, b) if len(a) >= len(b) else (b, a)  # Booth-recode the narrower one
        width = len(self.p)
        vecs, cins = _partial_products(x, y, width)
        # stage A: the rows and a level of adders (two when one leaves more than 4 sums)
        vecs = _adder_level(m, vecs, cins, width)
        if len(vecs) > 4:
            vecs = _adder_level(m, vecs, cins, width)
        vecs, cins = _register(m, vecs, cins, "mid")
        # stage B: three sums through 3:2 counters and one adder, else levels of adders
        if len(vecs) == 3:
            vecs = [_compress(m, vecs, cins, width)]
        while len(vecs) > 1:
            vecs = _adder_level(m, vecs, cins, width)
        (total,) = vecs
        assert total.lo == 0 and not cins
        out = Signal.like(self.p, name="p_out", reset_less=True)
        m.d.sync += out.eq(_value(total.bits))
        m.d.comb += self.p.eq(out)
        return m


Bit = Value | int  # one bit of a vector: a 1-bit value or the constant 0 or 1


@dataclass(frozen=True)
class _Digit:
    """A row's multiple of ``x``: ``y[mid]`` (``hi`` None: the AND row) or the Booth digit
    ``y[lo] + y[mid] - 2 y[hi]`` (``lo`` None: 0); the "+1" of its negation is ``y[hi]``."""

    hi: int | None
    mid: int
    lo: int | None = None

    def bits(self) -> set[int]:
        return {b for b in (self.hi, self.mid, self.lo) if b is not None}

    def value(self, y: dict[int, int]) -> int:
        if self.hi is None:
            return y[self.mid]
        return (y[self.lo] if self.lo is not None else 0) + y[self.mid] - 2 * y[self.hi]

    def neg(self, y: dict[int, int]) -> int:
        return 0 if self.hi is None else y[self.hi]


@dataclass
class _Model:
    """A vector's exact value: ``x * sum(d * 2**shift) + const - owed.neg``, ``owed`` the
    lowest row's digit while that row's "+1" is still to be added."""

    terms: list[tuple[_Digit, int]]
    const: int
    owed: _Digit | None
    x_bits: int


@dataclass
class _Vec:
    """An unsigned vector: ``bits[i]`` weighs ``2 ** (lo + i)``; ``max`` bounds its value
    (in units of ``2 ** lo``); ``flip``: the top bit is the complement of the one below it
    (registered once); ``model``: its exact value, while known."""

    lo: int
    bits: list[Bit]
    max: int = -1
    flip: bool = False
    model: _Model | None = None

    def __post_init__(self):
        if self.max < 0:
            self.max = sum(1 << i for i, b in enumerate(self.bits) if not _is_const(b, 0))

    @property
    def top(self) -> int:
        return self.lo + len(self.bits) - 1

    def variable(self, pos: int) -> bool:
        i = pos - self.lo
        return 0 <= i < len(self.bits) and not isinstance(self.bits[i], int)


def _is_const(bit: Bit, value: int) -> bool:
    return isinstance(bit, int) and bit == value


def _value(bits: list[Bit]) -> Value:
    return Cat(*(Const(b, 1) if isinstance(b, int) else b for b in bits))


_RANGE_BITS = 12  # exact ranges: every value of up to this many bits of y is tried


def _range(model: _Model | None) -> tuple[int, int] | None:
    """The least and greatest value of a vector, None when not worked out."""
    if model is None:
        return None
    ys = sorted(set().union(*(d.bits() for d, _ in model.terms)))
    if len(ys) > _RANGE_BITS:
        return None
    x_lo, x_hi = -(1 << (model.x_bits - 1)), (1 << (model.x_bits - 1)) - 1
    least = greatest = None
    for n in range(1 << len(ys)):
        y = {b: (n >> i) & 1 for i, b in enumerate(ys)}
        d = sum(digit.value(y) << shift for digit, shift in model.terms)
        base = model.const - (model.owed.neg(y) if model.owed is not None else 0)
        lo, hi = sorted((x_lo * d, x_hi * d))  # x * d is extreme at an end of x's range
        least = base + lo if least is None else min(least, base + lo)
        greatest = base + hi if greatest is None else max(greatest, base + hi)
    return least, greatest


def _partial_products(x: Value, y: Value, width: int) -> tuple[list[_Vec], dict[int, Value]]:
    """Rows, in order of weight, and carry-ins (by weight) whose sum is ``x * y`` modulo
    ``2 ** width`` (``x``, ``y`` signed, ``len(x) >= len(y)``).

    ``y = y[0] + 2 * z``, ``z = y >> 1`` radix-4 Booth recoded: digit ``i`` (weight
    ``2 * 4**i``) is ``z[2i-1] + z[2i] - 2 z[2i+1]``, its row ``|digit| * x`` complemented
    when the digit is negative (``z[2i+1]``, then also the row's carry-in). Each row's sign
    bit is complemented, which adds ``2**top``; the constant that takes those away again
    is spread over the rows by :func:`_place_constant`.
    """
    mx, ny = len(x), len(y)

    def xb(j: int) -> Bit:  # x sign-extended, 0 below bit 0
        return 0 if j < 0 else x[min(j, mx - 1)]

    def zi(k: int) -> int | None:  # z sign-extended, as the index of a bit of y
        return None if k < 0 else min(k + 1, ny - 1)

    rows: list[_Vec] = []
    cins: dict[int, Value] = {}
    # y[0] * x, holding y[0] * x + 2**(mx - 1)
    bits: list[Bit] = [y[0] & x[j] for j in range(mx - 1)] + [~(y[0] & x[mx - 1])]
    rows.append(_Vec(0, bits, model=_Model([(_Digit(None, 0), 0)], 1 << (mx - 1), None, mx)))
    for i in range(ny // 2):  # the Booth rows of z (ny - 1 bits)
        k_hi, k_mid, k_lo = zi(2 * i + 1), zi(2 * i), zi(2 * i - 1)
        hi, mid = y[k_hi], y[k_mid]
        two_possible = k_hi != k_mid  # the top digit of a sign-extended z is -1..1
        if k_lo is None:
            one, two = mid, hi & ~mid
        else:
            lo = y[k_lo]
            one, two = mid ^ lo, (hi & ~mid & ~lo) | (~hi & mid & lo)
        bits = []
        for j in range(mx + 1 if two_possible else mx):
            sel = one & xb(j)
            if two_possible and j > 0:
                sel = sel | (two & xb(j - 1))
            bits.append(sel ^ hi)
        bits[-1] = ~bits[-1]
        digit = _Digit(k_hi, k_mid, k_lo)
        # digit * x - neg + 2**(top bit); the carry-in adds neg
        model = _Model([(digit, 0)], 1 << (len(bits) - 1), digit, mx)
        rows.append(_Vec(1 + 2 * i, bits, model=model))
        cins[1 + 2 * i] = hi
    _place_constant(rows, -sum(r.model.const << r.lo for r in rows) % (1 << width))
    for r in rows:
        if len(r.bits) > width - r.lo:
            del r.bits[width - r.lo :]
            r.model = None  # now modulo 2**width: no longer its exact value
        r.max = -1
        r.__post_init__()
    return rows, cins


def _place_constant(rows: list[_Vec], const: int) -> None:
    """Add ``const`` to the rows in bits where it costs nothing or least.

    A one just above a row is free where the row it is first added to (its neighbour in
    the pairs ``(0, 1), (2, 3), ...``) has a bit of its own. A one above a row whose
    neighbour ends lower would sit alone at the top of an adder, for which Yosys puts an
    inverter after the carry chain, on its path; so a row's complemented sign bit ``~s``
    at that weight is rewritten instead: ``~s + 1`` at ``q`` is ``s`` at ``q`` and ``~s``
    at ``q + 1`` (one more LUT at most, beside the chain).
    """

    def neighbour_has(i: int, q: int) -> bool:
        j = i ^ 1
        if j < len(rows):
            return rows[j].variable(q)
        return any(r.variable(q) for k, r in enumerate(rows) if k != i)

    def rewrite(row: _Vec) -> None:
        row.model.const += 1 << (row.top - row.lo)
        inv = row.bits[-1]
        row.bits[-1] = ~inv
        row.bits.append(inv)

    def append(row: _Vec) -> None:
        row.bits.append(1)
        row.model.const += 1 << (row.top - row.lo)

    q = 0
    while const >> q:
        if not (const >> q) & 1:
            q += 1
            continue
        const -= 1 << q
        above = [i for i, r in enumerate(rows) if r.top == q - 1]
        free = [i for i in above if neighbour_has(i, q)]
        at = [r for r in rows if r.top == q and r.variable(q)]
        below = [r for r in rows if r.top == q - 1 and r.variable(q - 1)]
        if free:
            append(rows[max(free, key=lambda i: rows[i].lo)])
        elif at:
            rewrite(at[0])
        elif len(below) >= 2:  # 2**q is 2**(q - 1) twice
            rewrite(below[0])
            rewrite(below[1])
        elif above:
            append(rows[max(above, key=lambda i: rows[i].lo)])
        else:  # a constant one at the top of a row: 1 + 1 at q is 1 at q + 1
            row = next(r for r in rows if r.top == q)
            assert _is_const(row.bits[-1], 1)
            row.bits[-1] = 0
            row.model.const -= 1 << (q - row.lo)
            const += 2 << q
        q += 1


def _adder_level(m: Module, vecs: list[_Vec], cins: dict[int, Value], width: int) -> list[_Vec]:
    """Vectors ``(0, 1), (2, 3), ...`` added pairwise; an odd last one waits."""
    return [
        _merge(m, vecs[i], vecs[i + 1], cins, width) if i + 1 < len(vecs) else vecs[i]
        for i in range(0, len(vecs), 2)
    ]


def _merge(m: Module, low: _Vec, high: _Vec, cins: dict[int, Value], width: int) -> _Vec:
    """``low + high`` by one carry chain starting where they overlap, with the carry-in
    owed at ``high.lo`` (taken from ``cins``); the bits of ``low`` below pass through.

    With the sum's exact range known, the chain is as long as the sum needs; and when the
    top bit is always the complement of the one below (the range within
    ``[2**(n-2), 3 * 2**(n-2))``) the chain stops below it and the top bit is ``~`` that
    bit, for a LUT after the register to absorb (Yosys would put an inverter after the
    chain instead, on the chain's path).
    """
    if low.lo > high.lo:
        low, high = high, low
    cin = cins.pop(high.lo, None)
    k = high.lo - low.lo
    passed = low.bits[:k] + [0] * max(0, k - len(low.bits))
    room = width - high.lo
    hi_max = (low.max >> k) + high.max + (1 if cin is not None else 0)
    model = None
    if low.model is not None and high.model is not None:
        assert (cin is not None) == (high.model.owed is not None)
        terms = low.model.terms + [(d, shift + k) for d, shift in high.model.terms]
        const = low.model.const + (high.model.const << k)
        model = _Model(terms, const, low.model.owed, low.model.x_bits)
    exact = _range(model)
    flip = False
    if exact is not None:
        assert exact[0] >= 0, exact  # the constants keep every partial sum non-negative
        a_lo, hi_max = exact[0] >> k, exact[1] >> k  # what the chain adds up to
        n = hi_max.bit_length()
        flip = 2 <= n <= room and a_lo >= 1 << (n - 2) and hi_max < 3 << (n - 2)
        if n > room:
            model = None
    n = min(hi_max.bit_length(), room)
    total = _value(low.bits[k:]) + _value(high.bits)
    if cin is not None:
        total = total + cin
    chain = Signal(n - flip, name=f"sum{low.lo}_{high.lo}")
    m.d.comb += chain.eq(total)
    bits = passed + [chain[i] for i in range(n - flip)]
    if flip:
        bits.append(~chain[n - 2])
    max_ = (low.max & ((1 << k) - 1)) + (hi_max << k)
    if model is not None:
        max_ = exact[1]
    return _Vec(low.lo, bits, min(max_, (1 << (width - low.lo)) - 1), flip, model)


def _compress(m: Module, vecs: list[_Vec], cins: dict[int, Value], width: int) -> _Vec:
    """The sum of ``vecs`` and ``cins`` by one carry chain, after layers of 3:2 and 2:2
    counters in LUTs (carry-save: a layer's carries are not counted again in that layer)
    have left at most two bits in every column, three where the chain starts."""
    columns: list[list[Bit]] = [[] for _ in range(width)]
    for v in vecs:
        for i, bit in enumerate(v.bits):
            if not _is_const(bit, 0) and v.lo + i < width:
                columns[v.lo + i].append(bit)
    for pos, bit in cins.items():
        columns[pos].append(bit)
    cins.clear()
    layer = 0
    while True:
        start = next((q for q, c in enumerate(columns) if len(c) > 1), width)
        if all(len(c) <= (3 if q == start else 2) for q, c in enumerate(columns)):
            break
        out: list[list[Bit]] = [[] for _ in range(width)]
        for q in range(width):
            col = sorted(columns[q], key=lambda b: not isinstance(b, int))  # constants first
            room = 3 if q == start else 2
            while len(col) > 1 and len(col) + len(out[q]) > room:
                if q == width - 1:  # the top column: only the parity counts
                    total, _ = _counter([col.pop(0), col.pop(0)])
                    _put(out[q], _name(m, total, f"cs{layer}_{q}"))
                    continue
                n = 3 if len(col) >= 3 and len(col) + len(out[q]) - room >= 2 else 2
                total, carry = _counter([col.pop(0) for _ in range(n)])
                _put(out[q], _name(m, total, f"cs{layer}_{q}"))
                _put(out[q + 1], _name(m, carry, f"cc{layer}_{q}"))
            out[q].extend(col)
        columns = out
        layer += 1
    low = _Vec(0, [c[0] if c else 0 for c in columns])
    if start == width:
        return low
    high = _Vec(start, [c[1] if len(c) > 1 else 0 for c in columns[start:]])
    if len(columns[start]) > 2:
        cins[start] = columns[start][2]
    return _merge(m, low, high, cins, width)


def _name(m: Module, bit: Bit, name: str) -> Bit:
    """A counter's output as a signal: the expressions are not copied into every use."""
    if isinstance(bit, int):
        return bit
    sig = Signal(name=name)
    m.d.comb += sig.eq(bit)
    return sig


def _put(column: list[Bit], bit: Bit) -> None:
    if not _is_const(bit, 0):
        column.append(bit)


def _counter(args: list[Bit]) -> tuple[Bit, Bit]:
    """Sum and carry of two or three bits, constants folded in."""
    ones = sum(a for a in args if isinstance(a, int))
    v = [a for a in args if not isinstance(a, int)]
    if not v:
        return ones & 1, ones >> 1
    if len(v) == 1:  # v + ones, ones <= 2
        return (~v[0], v[0]) if ones == 1 else (v[0], ones >> 1)
    if len(v) == 2:  # v0 + v1 + ones, ones <= 1
        a, b = v
        return (~(a ^ b), a | b) if ones else (a ^ b, a & b)
    a, b, c = v
    return a ^ b ^ c, (a & b) | (a & c) | (b & c)


def _register(
    m: Module, vecs: list[_Vec], cins: dict[int, Value], name: str
) -> tuple[list[_Vec], dict[int, Value]]:
    """The vectors and carry-ins one cycle later (constant bits stay constants, a flipped
    top bit is the complement of the register below it)."""
    out = []
    for i, v in enumerate(vecs):
        bits: list[Bit] = []
        for j, bit in enumerate(v.bits[: len(v.bits) - v.flip]):
            if isinstance(bit, int):
                bits.append(bit)
            else:
                reg = Signal(name=f"{name}{i}_{v.lo + j}", reset_less=True)
                m.d.sync += reg.eq(bit)
                bits.append(reg)
        if v.flip:
            bits.append(~bits[-1])
        out.append(_Vec(v.lo, bits, v.max, v.flip, v.model))
    regs = {}
    for pos, bit in cins.items():
        reg = Signal(name=f"{name}_cin{pos}", reset_less=True)
        m.d.sync += reg.eq(bit)
        regs[pos] = reg
    return out, regs
