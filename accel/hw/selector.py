"""The selector: from the positions still to do in a block, the next ``lanes`` of them."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["Selector"]


class Selector(wiring.Component):
    """Combinational: the lowest ``lanes`` set bits of ``todo``.

    For lane l: ``onehot[l]`` marks the position (window row) it takes and ``valid[l]``
    says whether lane l has a position at all. ``rest`` is ``todo`` with the taken
    positions cleared: the row's work on a block ends when it is zero. The one-hot position
    selects the activations, and the weight at its rank in the mask (packed weights).
    """

    def __init__(self, *, block: int, lanes: int):
        self._block = check_int("block", block, 1, 64)
        self._lanes = check_int("lanes", lanes, 1, block)
        super().__init__(
            {
                "todo": In(block),
                "onehot": Out(data.ArrayLayout(unsigned(block), lanes)),
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
                lowest.eq(todo & -todo),  # isolate the lowest set bit: one carry chain
                self.onehot[lane].eq(lowest),
                self.valid[lane].eq(todo != 0),
            ]
            rest = Signal(self._block, name=f"rest{lane}")
            m.d.comb += rest.eq(todo & ~lowest)
            todo = rest
        m.d.comb += self.rest.eq(todo)
        return m
