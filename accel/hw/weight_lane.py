"""One lane of the weight unpacker: packed words in, one bias or record out per cycle."""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import wstream
from ..config import ArrayConfig
from .params import check_config, check_int

__all__ = ["WeightLane"]

MAX_TILES = 1 << 16


def popcount(bits: Value) -> Value:
    """A balanced adder tree over the bits (not a chain of ``len`` adders)."""
    terms = [bits[i] for i in range(len(bits))]
    while len(terms) > 1:
        terms = [
            terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
            for i in range(0, len(terms), 2)
        ]
    return terms[0] if terms else Const(0)


class WeightLane(wiring.Component):
    """Parses lane i of the weight stream (``accel.wstream``): per row tile, for each of
    its ``rows`` rows a bias and then ``blocks`` records, each padded to whole words.

    The lane holds up to ``max_item_words`` words. In a cycle it may take a word
    (``push``, ``word``) and emit the item at its head (``emit``, ``item`` from the lane's
    first word up) as soon as all of the item's words are in; an item's length comes
    from its mask's popcount. No item is shorter than a word, so the lane never holds
    more than one item's words plus the one arriving: it needs no back-pressure.

    ``row`` (the lane's row index, 0 for its first row), ``block`` and ``is_bias`` say
    what the emitted item is; ``bank`` is the parity of the row tile it belongs to and
    ``tiles`` counts the row tiles whose last item has gone; ``tile_end`` marks that last
    item. ``clear`` (at a layer's start, ``blocks`` already set) empties the lane.
    """

    def __init__(self, config: ArrayConfig, *, rows: int, max_blocks: int):
        self._config = cfg = check_config(config)
        self._rows = check_int("rows", rows, 1, cfg.rows)
        self._max_blocks = check_int("max_blocks", max_blocks, 1, 1 << 16)
        self._words = wstream.max_item_words(cfg)
        w = cfg.weight_word_bits
        super().__init__(
            {
                "word": In(w),
                "push": In(1),
                "clear": In(1),
                "blocks": In(range(max_blocks + 1)),
                "emit": Out(1),
                "item": Out(self._words * w),
                "is_bias": Out(1),
                "row": Out(range(rows)),
                "block": Out(range(max_blocks)),
                "bank": Out(1),
                "tiles": Out(range(MAX_TILES + 1)),
                "tile_end": Out(1),
            }
        )

    def elaborate(self, platform):
        cfg = self._config
        K, w = self._words, cfg.weight_word_bits
        m = Module()

        buf = [Signal(w, name=f"word{i}") for i in range(K)]
        count = Signal(range(K + 1))
        need_bias = Signal(init=1)
        head = Signal(range(K + 1))  # words of the item at the head
        record = wstream.record_words(cfg, 0)
        if cfg.skip_weights:
            words = [int(wstream.record_words(cfg, k)) for k in range(cfg.block + 1)]
            table = Array(Const(n, range(K + 1)) for n in words)
            record = table[popcount(Cat(*buf)[: cfg.block])]
        m.d.comb += [
            head.eq(Mux(need_bias, wstream.bias_words(cfg), record)),
            self.emit.eq(count >= head),
            self.item.eq(Cat(*buf)),  # one vector, not K parts
            self.is_bias.eq(need_bias),
        ]

        # Shift the emitted item out (whole words) and put the arriving word behind the rest.
        taken = Mux(self.emit, head, 0)
        rest = count - taken
        padded = Array([*buf, *[Const(0, w)] * K])
        for i, word in enumerate(buf):
            m.d.sync += word.eq(Mux(self.push & (rest == i), self.word, padded[i + taken]))
        m.d.sync += count.eq(rest + self.push)

        # Which item comes next: a row's bias, its blocks, the next row, the next row tile.
        # `blocks` is the layer's, set before start: its predecessor is registered, so
        # that no subtractor from the control inputs sits in front of the lane's logic
        # (and "the block is the row's last" is a flip-flop, set from a comparison with
        # blocks - 2 as the block advances: no comparator sits before `tile_end`)
        blocks_m2 = Signal.like(self.blocks, name="blocks_m2")
        one_block = Signal()
        m.d.sync += [blocks_m2.eq(self.blocks - 2), one_block.eq(self.blocks == 1)]
        last_block = Signal()
        last_row = self.row == self._rows - 1
        m.d.comb += self.tile_end.eq(self.emit & ~need_bias & last_block & last_row)
        with m.If(self.emit):
            with m.If(need_bias):
                m.d.sync += need_bias.eq(0)
            with m.Elif(last_block):
                m.d.sync += [self.block.eq(0), need_bias.eq(1), last_block.eq(one_block)]
                with m.If(last_row):
                    m.d.sync += [
                        self.row.eq(0),
                        self.bank.eq(~self.bank),
                        self.tiles.eq(self.tiles + 1),
                    ]
                with m.Else():
                    m.d.sync += self.row.eq(self.row + 1)
            with m.Else():
                m.d.sync += [self.block.eq(self.block + 1), last_block.eq(self.block == blocks_m2)]
        with m.If(self.clear):
            m.d.sync += [
                count.eq(0),
                need_bias.eq(1),
                last_block.eq(self.blocks == 1),
                self.row.eq(0),
                self.block.eq(0),
                self.bank.eq(0),
                self.tiles.eq(0),
            ]
        return m
