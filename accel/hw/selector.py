"""The selector: from the positions still to do in a block, the next ``lanes`` of them."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["Selector"]


def popcount(value) -> object:
    return sum(value[i] for i in range(len(value)))


class Selector(wiring.Component):
    """Combinational: the lowest ``lanes`` set bits of ``todo``.

    For lane l: ``onehot[l]`` marks the position (window row) it takes, ``index[l]`` is
    that position's index among the stored weights (``popcount(mask below it)``), and
    ``valid[l]`` says whether lane l has a position at all. ``rest`` is ``todo`` with the
    taken positions cleared: the row's work on a block ends when it is zero.
    """

    def __init__(self, *, block: int, lanes: int):
        self._block = check_int("block", block, 1, 64)
        self._lanes = check_int("lanes", lanes, 1, block)
        super().__init__(
            {
                "todo": In(block),
                "mask": In(block),
                "onehot": Out(data.ArrayLayout(unsigned(block), lanes)),
                "index": Out(data.ArrayLayout(unsigned(max(1, (block - 1).bit_length())), lanes)),
                "valid": Out(lanes),
                "rest": Out(block),
            }
        )

    def elaborate(self, platform):
        m = Module()
        todo = self.todo
        for lane in range(self._lanes):
            lowest = Signal(self._block, name=f"lowest{lane}")
            m.d.comb += [
                lowest.eq(todo & -todo),  # isolate the lowest set bit
                self.onehot[lane].eq(lowest),
                self.valid[lane].eq(todo != 0),
                self.index[lane].eq(popcount(self.mask & (lowest - 1))),
            ]
            rest = Signal(self._block, name=f"rest{lane}")
            m.d.comb += rest.eq(todo & ~lowest)
            todo = rest
        m.d.comb += self.rest.eq(todo)
        return m
