"""A PE row: its weight memory, the selector, the control that takes windows, C PEs."""

from __future__ import annotations

from functools import reduce
from operator import or_

from amaranth import Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from ..errors import AccelError
from .layouts import queue_entry, weight_record
from .params import check_config, check_int
from .pe import ProcessingElement
from .selector import Selector
from .weight_lane import popcount

__all__ = ["PERow"]


class PERow(wiring.Component):
    """Row r of the array: owns outputs Y[m0 + r, n0 : n0 + C] of the current tile.

    The weight memory holds one record per block (the mask and the block's nonzero values
    packed, as the weight stream carries them; stage 2 picks the weight of position j at
    the rank of j in the mask, ``popcount(mask & (onehot - 1))``. In dense weight mode the
    mask is not stored and reads as all ones, and the values are in place). Timing, exactly the
    contract's: the row takes window b at cycle P (``take``), works on it in cycles
    P + 1 .. P + c with ``c = max(1, ceil(popcount(wm & am) / lanes))``, and takes the next
    window in its last work cycle if one is available.

    The datapath behind that control is pipelined for the clock (``accel.hw.timing``):
    in a work cycle the selector picks up to ``lanes`` positions from the masks alone
    (stage 1); the next cycle picks their weights and activations with the registered
    one-hot vectors (stage 2); the PEs then gate, multiply and accumulate in three more.
    The weight record is read ahead into a register, so the first work cycle starts
    from flip-flops, not from the block RAM's output.

    The weights are double-buffered: the memory holds two banks of ``max_blocks`` records,
    and two bias registers, so the next row tile loads into one (``load_bank``) while the
    current one computes from the other (``bank``).

    Ports: ``load`` / ``load_en`` / ``load_addr`` / ``load_bank`` write a record, ``bias``
    / ``bias_en`` the row's bias into ``load_bank``; ``bias_value`` is ``bank``'s bias;
    ``available`` / ``take`` face the queue, ``active`` (the mask of the window taken last)
    and ``rows`` (its values, one cycle later) come from it; ``run``
    low restarts the block count (between tiles); ``blocks`` per tile; ``done`` when all
    blocks were worked; ``busy`` in work cycles; ``issued`` counts this cycle's lanes (the
    MACs of each PE column); ``effectual`` the MACs with both operands nonzero,
    ``timing.EFFECTUAL_DELAY`` cycles late (the event counters need no exact cycle, only
    every event before ``done``); ``clear`` zeroes the accumulators; ``acc`` the C
    accumulators.

    Without weight skipping every row has the same work (``wm`` is all ones), so the rows
    run in lockstep: a ``follower`` row takes its activations from the leading row's pick
    (``x_in`` from row 0's ``x_out``) instead of picking them itself, and the queue reads
    one copy of the window for all rows. Only the weights are picked per row.
    """

    def __init__(self, config: ArrayConfig, *, max_blocks: int, follower: bool = False):
        self._config = cfg = check_config(config)
        self._max_blocks = check_int("max_blocks", max_blocks, 1)
        if not isinstance(follower, bool):
            raise AccelError(f"follower must be True or False, not {follower!r}")
        if follower and cfg.skip_weights:
            raise AccelError("follower rows exist only without weight skipping (lockstep rows)")
        self._follower = follower
        operands = data.ArrayLayout(data.ArrayLayout(signed(cfg.a_bits), cfg.cols), cfg.lanes)
        shared = {"x_in": In(operands)} if follower else {"x_out": Out(operands)}
        super().__init__(
            {
                **shared,
                "load": In(weight_record(cfg)),
                "load_en": In(1),
                "load_addr": In(range(max_blocks)),
                "load_bank": In(1),
                "bank": In(1),
                "bias": In(signed(cfg.acc_bits)),
                "bias_en": In(1),
                "bias_value": Out(signed(cfg.acc_bits)),
                "available": In(1),
                "take": Out(1),
                "rows": In(queue_entry(cfg)["rows"].shape),
                **({"active": In(cfg.block)} if cfg.skip_acts else {}),
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
        depth = self._max_blocks
        m.submodules.memory = mem = memory.Memory(shape=record, depth=2 * depth, init=[])
        write, read = mem.write_port(), mem.read_port()

        def address(block: Value, bank: Value) -> Value:
            """Bank 1 above bank 0: a concatenation when the depth is a power of two."""
            if depth & (depth - 1) == 0:
                return Cat(block[: (depth - 1).bit_length()], bank)
            return block + Mux(bank, depth, 0)

        m.d.comb += [
            write.addr.eq(address(self.load_addr, self.load_bank)),
            write.data.eq(self.load),
            write.en.eq(self.load_en),
        ]
        biases = [Signal(signed(cfg.acc_bits), name=f"bias{i}") for i in range(2)]
        for i, held in enumerate(biases):
            with m.If(self.bias_en & (self.load_bank == i)):
                m.d.sync += held.eq(self.bias)
        m.d.comb += self.bias_value.eq(Mux(self.bank, biases[1], biases[0]))

        taken = Signal(range(self._max_blocks + 1))
        working = Signal()
        first = Signal()  # the first work cycle of a window
        todo = Signal(B)

        # The weight record is read ahead: the memory's address is the next block to take
        # (after this cycle's take), so its output shows that block's record, and a
        # register after it (`ahead`) holds the record in the block's first work cycle.
        # No path starts at the block RAM's slow clock-to-out except into that register.
        ahead = Signal(record)
        m.d.comb += [read.addr.eq(address(taken + self.take, self.bank)), read.en.eq(1)]
        m.d.sync += ahead.eq(read.data)
        mask = ahead.mask if cfg.skip_weights else (1 << B) - 1
        active = self.active if cfg.skip_acts else (1 << B) - 1

        # Stage 1 (select): the positions of this cycle, from the masks only.
        m.submodules.selector = sel = Selector(block=B, lanes=L)
        m.d.comb += sel.todo.eq(Mux(first, mask & active, todo))
        last = working & (sel.rest == 0)
        m.d.comb += [
            self.take.eq((~working | last) & self.available & (taken < self.blocks) & self.run),
            self.done.eq((taken == self.blocks) & ~working),
            self.busy.eq(working),
        ]
        with m.If(~self.run):
            m.d.sync += [taken.eq(0), working.eq(0), first.eq(0)]
        with m.Elif(self.take):
            m.d.sync += [taken.eq(taken + 1), working.eq(1), first.eq(1)]
        with m.Elif(last):
            m.d.sync += [working.eq(0), first.eq(0)]
        with m.Elif(working):
            m.d.sync += [todo.eq(sel.rest), first.eq(0)]

        issue = [working & sel.valid[lane] for lane in range(L)]
        m.d.comb += self.issued.eq(sum(issue))
        onehot = [Signal(B, name=f"onehot{lane}") for lane in range(L)]
        picking = [Signal(name=f"picking{lane}") for lane in range(L)]
        values = Signal(record["values"].shape)  # the block's weights, from its first cycle
        wmask = Signal(B)  # and its mask (the packed values' positions)
        with m.If(first):
            m.d.sync += values.eq(ahead.values)
            if cfg.skip_weights:
                m.d.sync += wmask.eq(ahead.mask)
        for lane in range(L):
            m.d.sync += [onehot[lane].eq(sel.onehot[lane]), picking[lane].eq(issue[lane])]

        # Stage 2 (pick): weight and activations at those positions, by one-hot AND-OR (the
        # window's values come from the queue one cycle after its mask, as this needs).
        def pick(sel_bits, words, width):
            terms = (sel_bits[j].replicate(width) & Value.cast(words[j]) for j in range(B))
            return reduce(or_, terms)  # one-hot: at most one term is nonzero

        pe_w = [Signal(signed(cfg.w_bits), name=f"w{lane}") for lane in range(L)]
        pe_x = [
            [Signal(signed(cfg.a_bits), name=f"x{lane}_{c}") for c in range(C)] for lane in range(L)
        ]
        pe_issue = [Signal(name=f"issue{lane}") for lane in range(L)]
        window = self.rows
        for lane in range(L):
            if cfg.skip_weights:  # packed: the weight of position j is values[rank of j]
                below = (onehot[lane] - 1)[:B]  # the positions under the one-hot bit
                rank = popcount(wmask & below)
                weight = Mux(onehot[lane].any(), values.as_value().word_select(rank, cfg.w_bits), 0)
            else:  # every value in place
                weight = pick(onehot[lane], [values[j] for j in range(B)], cfg.w_bits)
            m.d.sync += [pe_w[lane].eq(weight), pe_issue[lane].eq(picking[lane])]
            for c in range(C):
                if self._follower:  # lockstep: the leading row's pick is this row's
                    m.d.comb += pe_x[lane][c].eq(self.x_in[lane][c])
                else:
                    column = [window[j][c] for j in range(B)]
                    m.d.sync += pe_x[lane][c].eq(pick(onehot[lane], column, cfg.a_bits))
        if not self._follower:
            m.d.comb += self.x_out.as_value().eq(Cat(x for lane in pe_x for x in lane))

        accs, effectual = [], []
        for c in range(C):
            pe = ProcessingElement(
                lanes=L, w_bits=cfg.w_bits, a_bits=cfg.a_bits, acc_bits=cfg.acc_bits
            )
            m.submodules[f"pe{c}"] = pe
            for lane in range(L):
                m.d.comb += [
                    pe.w[lane].eq(pe_w[lane]),
                    pe.x[lane].eq(pe_x[lane][c]),
                    pe.issue[lane].eq(pe_issue[lane]),
                ]
            m.d.comb += pe.clear.eq(self.clear)
            accs.append(pe.acc)
            effectual.append(pe.effectual)
        m.d.comb += self.acc.as_value().eq(Cat(*accs))  # one vector, not C parts
        m.d.sync += self.effectual.eq(sum(effectual))
        return m
