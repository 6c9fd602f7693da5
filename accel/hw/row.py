"""A PE row: its weight memory, the selector, the control that takes windows, C PEs."""

from __future__ import annotations

from functools import reduce
from operator import or_

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from .layouts import queue_entry, weight_record
from .params import check_config, check_int
from .pe import ProcessingElement
from .selector import Selector

__all__ = ["PERow"]


class PERow(wiring.Component):
    """Row r of the array: owns outputs Y[m0 + r, n0 : n0 + C] of the current tile.

    The weight memory holds one record per block (mask and packed nonzeros; in dense
    weight mode the mask is not stored and reads as all ones). Timing, exactly the
    contract's: the row takes window b at cycle P (``take``), reads its weight record
    in the same cycle, works on it in cycles P + 1 .. P + c with ``c = max(1,
    ceil(popcount(wm & am) / lanes))``, and takes the next window in its last work cycle
    if one is available.

    Ports: ``load`` / ``load_en`` / ``load_addr`` write a record, ``bias`` / ``bias_en``
    the row's bias; ``available`` / ``take`` / ``window`` face the queue; ``run`` low
    restarts the block count (between tiles); ``blocks`` per tile; ``done`` when all
    blocks were worked; ``busy`` in work cycles; ``issued`` counts this cycle's lanes (the
    MACs of each PE column); ``effectual`` the MACs with both operands nonzero, two cycles
    late (the PEs' operand registers, then a register for the sum: the event counters
    need no exact cycle, only every event before ``done``); ``clear`` zeroes the
    accumulators; ``acc`` the C accumulators.
    """

    def __init__(self, config: ArrayConfig, *, max_blocks: int):
        self._config = cfg = check_config(config)
        self._max_blocks = check_int("max_blocks", max_blocks, 1)
        super().__init__(
            {
                "load": In(weight_record(cfg)),
                "load_en": In(1),
                "load_addr": In(range(max_blocks)),
                "bias": In(signed(cfg.acc_bits)),
                "bias_en": In(1),
                "bias_value": Out(signed(cfg.acc_bits)),
                "available": In(1),
                "take": Out(1),
                "window": In(queue_entry(cfg)),
                "run": In(1),
                "blocks": In(range(max_blocks + 1)),
                "done": Out(1),
                "busy": Out(1),
                "issued": Out(range(cfg.lanes + 1)),
                "effectual": Out(range(cfg.lanes * cfg.cols + 1)),
                "clear": In(1),
                "acc": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
            }
        )

    def elaborate(self, platform):
        cfg = self._config
        B, C, L = cfg.block, cfg.cols, cfg.lanes
        m = Module()

        record = weight_record(cfg)
        m.submodules.memory = mem = memory.Memory(shape=record, depth=self._max_blocks, init=[])
        write, read = mem.write_port(), mem.read_port()
        m.d.comb += [
            write.addr.eq(self.load_addr),
            write.data.eq(self.load),
            write.en.eq(self.load_en),
        ]
        with m.If(self.bias_en):
            m.d.sync += self.bias_value.eq(self.bias)

        taken = Signal(range(self._max_blocks + 1))
        working = Signal()
        first = Signal()  # the first work cycle of a window: the weight record just arrived
        todo = Signal(B)
        mask = read.data.mask if cfg.skip_weights else (1 << B) - 1
        active = self.window.active if cfg.skip_acts else (1 << B) - 1

        m.submodules.selector = sel = Selector(block=B, lanes=L)
        m.d.comb += [sel.todo.eq(Mux(first, mask & active, todo)), sel.mask.eq(mask)]
        last = working & (sel.rest == 0)
        m.d.comb += [
            self.take.eq((~working | last) & self.available & (taken < self.blocks) & self.run),
            self.done.eq((taken == self.blocks) & ~working),
            self.busy.eq(working),
            read.addr.eq(taken),
            read.en.eq(self.take),
        ]
        with m.If(~self.run):
            m.d.sync += [taken.eq(0), working.eq(0), first.eq(0)]
        with m.Elif(self.take):
            m.d.sync += [taken.eq(taken + 1), working.eq(1), first.eq(1)]
        with m.Elif(last):
            m.d.sync += [working.eq(0), first.eq(0)]
        with m.Elif(working):
            m.d.sync += [todo.eq(sel.rest), first.eq(0)]

        # The lanes' operands: weight by packed index, activations by one-hot position.
        values = read.data.values.as_value()
        issue = [working & sel.valid[lane] for lane in range(L)]
        weights = [values.word_select(sel.index[lane], cfg.w_bits).as_signed() for lane in range(L)]
        acts = []
        for lane in range(L):
            lane_acts = []
            for c in range(C):
                x = Signal(signed(cfg.a_bits), name=f"x{lane}_{c}")
                picked = (
                    sel.onehot[lane][j].replicate(cfg.a_bits) & self.window.rows[j][c].as_unsigned()
                    for j in range(B)
                )
                m.d.comb += x.eq(reduce(or_, picked))  # one-hot: at most one term is nonzero
                lane_acts.append(x)
            acts.append(lane_acts)

        m.d.comb += self.issued.eq(sum(issue))
        accs, effectual = [], []
        for c in range(C):
            pe = ProcessingElement(
                lanes=L, w_bits=cfg.w_bits, a_bits=cfg.a_bits, acc_bits=cfg.acc_bits
            )
            m.submodules[f"pe{c}"] = pe
            for lane in range(L):
                m.d.comb += [
                    pe.w[lane].eq(weights[lane]),
                    pe.x[lane].eq(acts[lane][c]),
                    pe.issue[lane].eq(issue[lane]),
                ]
            m.d.comb += pe.clear.eq(self.clear)
            accs.append(pe.acc)
            effectual.append(pe.effectual)
        m.d.comb += self.acc.as_value().eq(Cat(*accs))  # one vector, not C parts
        m.d.sync += self.effectual.eq(sum(effectual))
        return m
