"""The dense reference array: the same streams and control as the zero-skipping array,
one K row per cycle broadcast to every PE row, built the way the fabric wants it."""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring

from .. import wstream
from ..config import ArrayConfig
from ..errors import AccelError
from . import timing
from .counters import COUNTER_NAMES, EventCounters
from .dense_pe import DensePE
from .fabric import BLOCK_RAM_LATENCY, BlockRAM, FanoutRegister, check_fabric
from .layouts import weight_record, window_beat
from .output_stage import OutputStage
from .params import check_config, check_int, check_wire_widths
from .top import MAX_TILES, array_members
from .weight_lane import WeightLane, popcount

__all__ = ["DenseAccelerator"]


GROUP_COLS = 4
"""Columns per copy of the output buffer's enables (see ``FanoutRegister``): a copy
enables a row's ``GROUP_COLS`` accumulators, 128 flip-flops at 32 bits."""


class DenseAccelerator(wiring.Component):
    """The plain output-stationary array of ``dataflow = "dense"``.

    Ports and protocol are :class:`accel.hw.top.Accelerator`'s (``accel.hw.driver`` drives
    both): the packed weight stream of the row tiles (without weight skipping: a bias and
    then per block all ``block`` values of a row), ``blocks`` windows per column tile, and
    ``rows / result_rows`` result beats per tile.

    Datapath, for a row issued in cycle t (``timing.DENSE_*``): every row's weight record
    of the block is read from its block RAM (output register on) and the row's weight
    picked from it, the activation row comes from the window (held still, indexed), both
    registered as the operands that a PE row or column shares (t + 3); each PE multiplies
    in a DSP with its three registers on and two fabric registers after it, and adds in a
    two-half accumulator (``DensePE``). Tiles run back to back: the first product of a
    tile replaces the sum. A tile is captured into the output buffer half by half,
    ``timing.DENSE_LANDING`` cycles after its last row, and drains ``result_rows`` rows
    per beat through the output stages while the next tile computes.

    Issue: a row goes when the row tile's weights are in, its window is in (or
    arriving) and, for a tile's last row, the output buffer is free (the previous tile has
    been captured and has drained): only that row waits, so a tile takes ``nb x block``
    cycles unless it is shorter than its predecessor's landing and drain. The weights are
    double-buffered: row tile t + 1's beats are taken while row tile t computes, once row
    tile t - 1's last row has been read.

    Parameters
    ----------
    config:
        An ``ArrayConfig`` with ``dataflow = "dense"``.
    max_blocks:
        Blocks per row a weight bank holds (K up to ``max_blocks x block``).
    counter_width:
        Width of the event counters.
    fabric:
        ``"generic"`` for simulation and any FPGA, ``"ecp5"`` or ``"ice40"`` to instantiate
        the family's DSPs and block RAMs (``accel.hw.fabric``); the cycles are the same.
    max_dsps:
        The DSPs the device has: the PEs beyond them (the last ones, row-major) get
        pipelined LUT multipliers of the same latency. ``None``: every PE has a DSP.
    """

    def __init__(
        self,
        config: ArrayConfig,
        *,
        max_blocks: int = 64,
        counter_width: int = 48,
        fabric: str = "generic",
        max_dsps: int | None = None,
    ):
        try:
            self._config = cfg = check_wire_widths(check_config(config))
            if cfg.dataflow != "dense":
                raise AccelError(f"config.dataflow must be 'dense', not {cfg.dataflow!r}")
            self._max_blocks = check_int("max_blocks", max_blocks, 1, 1 << 16)
            self._counter_width = check_int("counter_width", counter_width, 16, 64)
            self._fabric = check_fabric(fabric)
            self._max_dsps = None if max_dsps is None else check_int("max_dsps", max_dsps, 0)
            check_int("w_bits", cfg.w_bits, 2, 18)
            check_int("a_bits", cfg.a_bits, 2, 18)
        except AccelError:
            self._MustUse__silence = True  # refused, not forgotten: no "never used" warning
            raise
        super().__init__(array_members(cfg, max_blocks=max_blocks, counter_width=counter_width))

    @property
    def config(self) -> ArrayConfig:
        return self._config

    @property
    def max_blocks(self) -> int:
        return self._max_blocks

    @property
    def fabric(self) -> str:
        return self._fabric

    @property
    def dsp_multipliers(self) -> int:
        """PEs whose multiplier is a DSP; the rest are LUT multipliers."""
        n = self._config.rows * self._config.cols
        return n if self._max_dsps is None else min(n, self._max_dsps)

    def elaborate(self, platform):
        cfg = self._config
        R, C, B = cfg.rows, cfg.cols, cfg.block
        U = min(cfg.weight_lanes, R)
        nbank = self._max_blocks
        m = Module()

        m.submodules.counters = counters = EventCounters(cfg, width=self._counter_width)
        k = cfg.result_rows
        # (the bias is added as a beat moves into the drain register: `biased`)
        stages = [
            OutputStage(cols=C, a_bits=cfg.a_bits, acc_bits=cfg.acc_bits, biased=True)
            for _ in range(k)
        ]
        for j, st in enumerate(stages):
            m.submodules[f"output_stage{j}" if k > 1 else "output_stage"] = st
        stage = stages[0]
        starting = self.start & ~self.busy  # a layer starts (start is ignored while busy)

        # --- layer position: the row issued this cycle is row j of block b of the tile
        row_tile = Signal(range(MAX_TILES + 1))
        col_tile = Signal(range(MAX_TILES + 1))
        block = Signal(range(self._max_blocks))
        pos = Signal(range(B))
        beat_tile = Signal(range(MAX_TILES + 1))
        issue = Signal()
        weights_ok = Signal()  # the row tile's weights are all written
        in_flight = Signal()  # a tile's last row is issued and not yet captured
        free = Signal()  # the output buffer was empty, nothing on its way, last cycle

        # where the position is, as registered flags: the issue logic and everything it
        # enables (the position, the flags, the counters) start at flip-flops
        # and never at a comparator of the layer's shape
        last_pos = Signal()  # the row is its block's last
        last_block = Signal()  # the block is its tile's last
        last_col = Signal()  # the column tile is its row tile's last
        last_row_tile = Signal()
        first_row = Signal()  # the row is its tile's first
        last_row = Signal()  # the row is its tile's last (last_pos & last_block)
        layer_ends = Signal()  # the row is the layer's last (and its last tile's)
        running = Signal()  # the layer's rows are being issued
        # the layer's shape as the counters' last-but-one values and single-step flags:
        # "the next is the last" is an equality of two registers, no adder before it
        blocks_m2 = Signal.like(self.blocks)
        col_tiles_m2 = Signal.like(self.col_tiles)
        row_tiles_m2 = Signal.like(self.row_tiles)
        one_block, one_col = Signal(), Signal()

        # --- the output buffer: R x C accumulators, written at capture and shifted up by
        # `result_rows` rows per beat, its first rows copied into a register (the drain
        # register: the buffer spans the array, so the copy gets a cycle of its own, and
        # adds the row's bias), then the output stages (a capture never meets a shift: the
        # next tile's last row waits until the buffer has drained)
        acc = data.ArrayLayout(signed(cfg.acc_bits), C)
        held = [Signal(acc, name=f"held{r}") for r in range(R)]
        held_bias = [Signal(signed(cfg.acc_bits), name=f"held_bias{r}") for r in range(R)]
        draining = Signal()
        beats = R // k
        drain_row = Signal(range(beats))
        drained = [Signal(acc, name=f"drained{j}") for j in range(k)]
        drained_valid = Signal()
        drain_moves = ~drained_valid | stage.i.ready
        sent = draining & drain_moves  # a beat left the buffer for the drain register
        last_sent = sent & (drain_row == beats - 1)
        buffer_free = ~draining | last_sent
        leaves = self.results.valid & self.results.ready
        # The buffer shifts up by a beat's rows as the beat goes: no row multiplexer. (A
        # shift a cycle later, from a flip-flop, with the next beat read behind the first
        # rows meanwhile, took 550 more LUT4 on the 8x8 and did not raise its Fmax.)
        # The buffer's and the drain register's enables reach 2,300 flip-flops on the 8x8:
        # each group of GROUP_COLS columns of a row gets its own copy of the shift, the
        # move and the captures, registered from the next values of the flags they are
        # made of (`draining`, `drained_valid` and the output stage's skid are registered
        # only from the names below, so each copy equals its flag in every cycle).
        # The results port's `ready` arrives late (from outside the array): it enters only
        # the last gate before the copies, the rest is made of flip-flops beforehand
        # (kept as wires, so that the mapper leaves that structure alone).
        groups = -(-C // GROUP_COLS)

        def copies(name: str, rows: int, d: Value) -> Value:
            """A copy of ``d``, a cycle later, per group of GROUP_COLS columns of ``rows``
            rows (copy ``row * groups + column // GROUP_COLS``)."""
            m.submodules[name] = reg = FanoutRegister(copies=rows * groups, fabric=self._fabric)
            m.d.comb += reg.d.eq(d)
            return reg.q

        draining_next = Signal(attrs={"keep": 1})
        drained_valid_next = Signal()
        moves_unless_ready = Signal(attrs={"keep": 1})  # the move, if `ready` is low
        shift_unless_ready = Signal(attrs={"keep": 1})
        m.d.comb += [
            drained_valid_next.eq(Mux(drain_moves, draining, drained_valid)),
            moves_unless_ready.eq(~drained_valid_next | stage.ready_next_if_stalled),
            shift_unless_ready.eq(draining_next & moves_unless_ready),
        ]
        m.d.sync += [draining.eq(draining_next), drained_valid.eq(drained_valid_next)]
        ready = self.results.ready
        shift_q = copies("shift_q", R, shift_unless_ready | (draining_next & ready))
        move_q = copies("move_q", k, moves_unless_ready | ready)

        def word(row: Value, c: int) -> Value:
            return row.as_value()[c * cfg.acc_bits : (c + 1) * cfg.acc_bits]

        for j in range(k):
            for c in range(C):
                with m.If(move_q[j * groups + c // GROUP_COLS]):  # wraps, as the stage's
                    m.d.sync += word(drained[j], c).eq(word(held[j], c) + held_bias[j])
        for r in range(R - k):
            with m.If(shift_q[r * groups]):
                m.d.sync += held_bias[r].eq(held_bias[r + k])
            for c in range(C):
                with m.If(shift_q[r * groups + c // GROUP_COLS]):
                    m.d.sync += word(held[r], c).eq(word(held[r + k], c))
        for j, st in enumerate(stages):
            m.d.comb += [
                st.i.payload.acc.eq(drained[j]),
                st.i.valid.eq(drained_valid),
                st.relu.eq(self.relu),
                st.requant.eq(self.requant),
                st.shift.eq(self.shift),
                st.o.ready.eq(self.results.ready),
            ]
        m.d.comb += [
            self.results.payload.values.eq(Cat(st.o.payload for st in stages)),
            self.results.valid.eq(stage.o.valid),
        ]

        # --- the weight stream: lanes parse it and write records and biases into the
        # rows' banks; a beat is taken whenever its row tile's bank is free
        loading = Signal()
        load_fire = Signal()
        beat = self.weights.payload
        lanes = []
        for i in range(U):
            lane = WeightLane(cfg, rows=len(wstream.lane_rows(cfg, i)), max_blocks=nbank)
            m.submodules[f"lane{i}"] = lane
            lanes.append(lane)
            m.d.comb += [
                lane.word.eq(beat.words[i]),
                lane.push.eq(load_fire & beat.valid[i]),
                lane.clear.eq(starting),
                lane.blocks.eq(self.blocks),
            ]

        # how many row tiles each lane has finished beyond the one being issued (0..2:
        # the lanes run at most two row tiles ahead): small counters instead of
        # comparisons of the lanes' row-tile counts with the issue's
        ahead = [Signal(range(4), name=f"ahead{i}") for i in range(U)]

        # the row tile's weights are all written: every lane has finished it. Registered
        # as two candidates, with and without a row tile advanced in the previous cycle,
        # from the counters before that advance: a multiplexer of three flip-flops, with
        # no path from the counters, the lanes or the issue logic into it
        ok_kept, ok_advanced, advanced = Signal(), Signal(), Signal()
        m.d.comb += weights_ok.eq(Mux(advanced, ok_advanced, ok_kept))

        # a bank is a power-of-two half of the memory: its address is the block with the
        # bank bit on top, wiring rather than an adder on the read address
        block_bits = max(1, (nbank - 1).bit_length())

        def bank_addr(bank: Value, blk: Value) -> Value:
            return Cat(blk.as_unsigned()[:block_bits], bank)

        record_bits = weight_record(cfg).size
        memories = []
        bias = [
            [Signal(signed(cfg.acc_bits), name=f"bias{b}_{r}") for r in range(R)] for b in range(2)
        ]
        for r in range(R):
            lane = lanes[r % U]
            hit = lane.emit & (lane.row == r // U)
            mem = BlockRAM(width=record_bits, depth=2 << block_bits, fabric=self._fabric)
            m.submodules[f"weights{r}"] = mem
            memories.append(mem)
            m.d.comb += [
                mem.w_addr.eq(bank_addr(lane.bank, lane.block)),
                mem.w_data.eq(lane.item[:record_bits]),
                mem.w_en.eq(hit & ~lane.is_bias),
                mem.r_addr.eq(bank_addr(row_tile[0], block)),
            ]
            with m.If(hit & lane.is_bias):
                with m.If(lane.bank):
                    m.d.sync += bias[1][r].eq(lane.item[: cfg.acc_bits])
                with m.Else():
                    m.d.sync += bias[0][r].eq(lane.item[: cfg.acc_bits])

        # --- the window: `block` rows held still, row `pos` issued; the next window is
        # taken as the last row of this one goes. A beat lands in `incoming` (every
        # cycle, no enable) and moves into the window the cycle after it was taken, from
        # a flip-flop (`took`), so that neither the issue logic nor the stream's valid
        # drives the window's enables; in that cycle the row is read from `incoming`.
        window = Signal(window_beat(cfg))
        incoming = Signal(window_beat(cfg))
        took = Signal()
        window_valid = Signal()
        # (never beyond the layer's last window: the stream's next beat is the next layer's)
        take = running & (~window_valid | (issue & last_pos & ~layer_ends))
        m.d.comb += self.acts.ready.eq(take)
        m.d.sync += [incoming.eq(self.acts.payload), took.eq(take & self.acts.valid)]
        with m.If(take):
            m.d.sync += window_valid.eq(self.acts.valid)
        with m.Elif(issue & last_pos):
            m.d.sync += window_valid.eq(0)
        with m.If(took):
            m.d.sync += window.eq(incoming)
        x_now = Signal(window.rows[0].shape())
        m.d.comb += x_now.eq(
            Mux(
                took,
                Array(incoming.rows[i] for i in range(B))[pos],
                Array(window.rows[i] for i in range(B))[pos],
            )
        )

        # --- issue and the row's journey: flags delayed to the stage that needs them
        m.d.comb += issue.eq(running & weights_ok & window_valid & (~last_row | free))
        # registered, so that the results port's ready never reaches the issue logic
        # (in two flip-flops, so that the results port's ready and the issue logic meet in
        # no gate before them: `free` is their AND)
        drained_free = Signal()  # the buffer had drained and nothing was on its way to it
        last_went = Signal()  # a tile's last row was issued
        m.d.sync += [
            drained_free.eq(buffer_free & ~in_flight),
            last_went.eq(issue & last_row),
        ]
        m.d.comb += free.eq(drained_free & ~last_went)
        depth = timing.DENSE_LANDING
        valid_at = [issue] + [Signal(name=f"valid_d{i}") for i in range(1, depth + 1)]
        first_at = [first_row] + [
            Signal(name=f"first_d{i}") for i in range(1, depth + 1)
        ]
        last_at = [last_row] + [Signal(name=f"last_d{i}") for i in range(1, depth + 1)]
        # a row tile's last row (its last column tile's), and the bank each row reads
        tile_end_at = [last_row & last_col] + [
            Signal(name=f"tile_end_d{i}") for i in range(1, depth + 1)
        ]
        bank_at = [row_tile[0]] + [Signal(name=f"bank_d{i}") for i in range(1, depth + 1)]
        for i in range(depth):
            m.d.sync += [
                valid_at[i + 1].eq(valid_at[i]),
                first_at[i + 1].eq(first_at[i] & valid_at[i]),
                last_at[i + 1].eq(last_at[i] & valid_at[i]),
                tile_end_at[i + 1].eq(tile_end_at[i] & valid_at[i]),
                bank_at[i + 1].eq(bank_at[i]),
            ]
        pos_read = [pos] + [
            Signal(range(B), name=f"pos_d{i}") for i in range(1, BLOCK_RAM_LATENCY + 1)
        ]
        x_at = [x_now] + [
            Signal(window.rows[0].shape(), name=f"x_d{i}") for i in range(1, BLOCK_RAM_LATENCY + 1)
        ]
        for i in range(BLOCK_RAM_LATENCY):
            m.d.sync += [pos_read[i + 1].eq(pos_read[i]), x_at[i + 1].eq(x_at[i])]

        # the operands (t + 3): each row's weight picked from its record, the activation row
        assert timing.DENSE_READ == BLOCK_RAM_LATENCY and timing.DENSE_OPERANDS == 1
        w_op = [Signal(signed(cfg.w_bits), name=f"w{r}") for r in range(R)]
        x_op = Signal(window.rows[0].shape())
        record = data.ArrayLayout(signed(cfg.w_bits), B)
        for r, mem in enumerate(memories):
            values = data.View(record, mem.r_data[: record.size])
            m.d.sync += w_op[r].eq(values[pos_read[-1]])
        m.d.sync += x_op.eq(x_at[-1])

        # the PEs: products land DENSE_PRODUCT cycles after the operands; a tile's first
        # product replaces the sum (its bias is added as the beat enters the drain register)
        land = timing.DENSE_READ + timing.DENSE_OPERANDS + timing.DENSE_PRODUCT
        assert land + timing.DENSE_ACCUMULATE == depth
        # `valid` enables and `first` clears every accumulator bit: each group of
        # GROUP_COLS PEs of a row gets its own copy of what the delay line holds at `land`
        valid_q = copies("valid_q", R, valid_at[land - 1])
        first_q = copies("first_q", R, first_at[land - 1] & valid_at[land - 1])
        pes = []
        for r in range(R):
            for c in range(C):
                pe = DensePE(
                    w_bits=cfg.w_bits,
                    a_bits=cfg.a_bits,
                    acc_bits=cfg.acc_bits,
                    fabric=self._fabric,
                    lut_multiplier=self._max_dsps is not None and len(pes) >= self._max_dsps,
                )
                m.submodules[f"pe{r}_{c}"] = pe
                pes.append(pe)
                m.d.comb += [
                    pe.w.eq(w_op[r]),
                    pe.x.eq(x_op[c]),
                    pe.valid.eq(valid_q[r * groups + c // GROUP_COLS]),
                    pe.first.eq(first_q[r * groups + c // GROUP_COLS]),
                ]
        lo = pes[0].lo_bits

        # capture: the low halves one cycle after the last product, the high halves one
        # cycle later
        # (the copies of `capture_lo` and `capture` take what the delay line's last two
        # stages take)
        assert depth >= 2
        capture = last_at[depth]
        capture_lo_q = copies("capture_lo_q", R, last_at[depth - 2] & valid_at[depth - 2])
        capture_q = copies("capture_q", R, last_at[depth - 1] & valid_at[depth - 1])
        m.d.comb += draining_next.eq(capture | (draining & ~last_sent))
        with m.If(sent):
            m.d.sync += drain_row.eq(drain_row + 1)
            with m.If(last_sent):
                m.d.sync += drain_row.eq(0)
        for r in range(R):
            # the bank still holds the tile's biases (see `lead`)
            with m.If(capture_q[r * groups]):
                m.d.sync += held_bias[r].eq(Mux(bank_at[depth], bias[1][r], bias[0][r]))
            for c in range(C):
                value = pes[r * C + c].acc
                with m.If(capture_lo_q[r * groups + c // GROUP_COLS]):
                    m.d.sync += word(held[r], c)[:lo].eq(value[:lo])
                with m.If(capture_q[r * groups + c // GROUP_COLS]):
                    m.d.sync += word(held[r], c)[lo:].eq(value[lo:])
        with m.If(capture):
            m.d.sync += in_flight.eq(0)
        with m.If(issue & last_row):
            m.d.sync += in_flight.eq(1)
        # a row tile's bank is free for the next but one once its last tile is captured
        # (with its biases)
        tile_captured = capture & tile_end_at[depth]

        # --- control: advance the position with every row. The next values are named so
        # that the flags the issue logic reads (the row is its block's last, its tile's
        # last, the layer's last) are flip-flops of their own, not gates of flip-flops.
        position = [pos, last_pos, block, last_block, col_tile, last_col, row_tile,
                    last_row_tile, first_row]  # fmt: skip
        nxt = {id(sig): Signal.like(sig, name=f"{sig.name}_next") for sig in position}

        def n(sig: Signal) -> Signal:
            return nxt[id(sig)]

        m.d.comb += [n(sig).eq(sig) for sig in position]
        with m.If(starting):
            m.d.comb += [
                n(row_tile).eq(0),
                n(col_tile).eq(0),
                n(block).eq(0),
                n(pos).eq(0),
                n(last_pos).eq(B == 1),
                n(last_block).eq(self.blocks == 1),
                n(last_col).eq(self.col_tiles == 1),
                n(last_row_tile).eq(self.row_tiles == 1),
                n(first_row).eq(1),
            ]
        with m.Elif(issue):
            m.d.comb += [n(pos).eq(pos + 1), n(last_pos).eq(pos == B - 2), n(first_row).eq(0)]
            with m.If(last_pos):
                m.d.comb += [
                    n(pos).eq(0),
                    n(last_pos).eq(B == 1),
                    n(block).eq(block + 1),
                    n(last_block).eq(block == blocks_m2),
                ]
                with m.If(last_block):
                    m.d.comb += [
                        n(block).eq(0),
                        n(last_block).eq(one_block),
                        n(first_row).eq(1),
                        n(col_tile).eq(col_tile + 1),
                        n(last_col).eq(col_tile == col_tiles_m2),
                    ]
                    with m.If(last_col):
                        m.d.comb += [
                            n(col_tile).eq(0),
                            n(last_col).eq(one_col),
                            n(row_tile).eq(row_tile + 1),
                            n(last_row_tile).eq(row_tile == row_tiles_m2),
                        ]
        m.d.sync += [sig.eq(n(sig)) for sig in position]
        row_ends = n(last_pos) & n(last_block)
        m.d.sync += [
            last_row.eq(row_ends),
            layer_ends.eq(row_ends & n(last_col) & n(last_row_tile)),
        ]
        with m.If(starting):
            m.d.sync += running.eq(1)
        with m.Elif(issue & layer_ends):
            m.d.sync += running.eq(0)
        advance = issue & last_row & last_col
        for a, ln in zip(ahead, lanes, strict=True):
            m.d.sync += a.eq(a + ln.tile_end - advance)
        # (what `ahead != 0` will be for every lane, whether or not this cycle advances)
        before = [a + ln.tile_end for a, ln in zip(ahead, lanes, strict=True)]
        m.d.sync += [
            ok_kept.eq(Cat(b != 0 for b in before).all()),
            ok_advanced.eq(Cat(b > 1 for b in before).all()),
            advanced.eq(advance),
        ]
        with m.FSM() as fsm:
            with m.State("IDLE"), m.If(self.start):
                m.d.sync += [
                    blocks_m2.eq(self.blocks - 2),
                    col_tiles_m2.eq(self.col_tiles - 2),
                    row_tiles_m2.eq(self.row_tiles - 2),
                    one_block.eq(self.blocks == 1),
                    one_col.eq(self.col_tiles == 1),
                    *(a.eq(0) for a in ahead),
                    ok_kept.eq(0),
                    ok_advanced.eq(0),
                    window_valid.eq(0),
                    in_flight.eq(0),
                    drained_free.eq(1),
                    last_went.eq(0),
                ]
                m.next = "RUN"
            with m.State("RUN"), m.If(issue & layer_ends):
                m.next = "FINISH"
            with m.State("FINISH"), m.If(last_sent & ~in_flight):
                m.next = "EMPTY"  # the last results are still in the output stage
            with m.State("EMPTY"), m.If(leaves & ~stage.pending & ~drained_valid):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += [
            self.busy.eq(~fsm.ongoing("IDLE")),

            self.weights.ready.eq(loading),
            load_fire.eq(loading & self.weights.valid),
        ]
        with m.If(self.done):
            m.d.sync += self.done.eq(0)
        # whether the weight stream's next beat may come, registered from the next values
        # of small flags (no comparator of the layer's shape drives `ready`): beats of a
        # row tile whose bank is free (the row tile two before it captured: `lead`, the
        # row tiles whose beats may still come, 1 down to -1), until the last row tile's
        lead = Signal(range(-2, 3))
        beats_done = Signal()
        last_beat_tile = Signal()
        tile_beats_in = load_fire & beat.last
        with m.If(tile_beats_in):
            m.d.sync += [
                beat_tile.eq(beat_tile + 1),
                last_beat_tile.eq(beat_tile == row_tiles_m2),
                beats_done.eq(last_beat_tile),
            ]
        with m.If(starting):
            m.d.sync += [
                beat_tile.eq(0),
                last_beat_tile.eq(self.row_tiles == 1),
                beats_done.eq(0),
            ]
        beats_done_next = Mux(starting, 0, beats_done | (tile_beats_in & last_beat_tile))
        lead_next = Mux(starting, 1, lead + tile_captured - tile_beats_in)
        m.d.sync += [
            lead.eq(lead_next),
            loading.eq((self.busy | self.start) & ~beats_done_next & (lead_next >= 0)),
        ]

        # --- counters: every issued row is R weight reads and R x C MACs; the effectual
        # ones are (nonzero weights) x (nonzero activations) of the operands, counted
        # through registered stages (the flags, the activations' popcount, then an adder
        # tree a level per cycle): the counts are only read when the layer is done
        valid_op = valid_at[timing.DENSE_READ + timing.DENSE_OPERANDS]
        w_flags, x_flags = Signal(R), Signal(C)
        w_nonzero = Signal(R)
        x_count = Signal(range(C + 1))
        m.d.sync += [
            w_flags.eq(Cat(w != 0 for w in w_op) & Mux(valid_op, (1 << R) - 1, 0)),
            x_flags.eq(Cat(x_op[c] != 0 for c in range(C))),
            w_nonzero.eq(w_flags),
            x_count.eq(popcount(x_flags)),
        ]
        terms = [Mux(w_nonzero[r], x_count, 0) for r in range(R)]
        while len(terms) > 1:
            pairs = [terms[i : i + 2] for i in range(0, len(terms), 2)]
            terms = []
            for pair in pairs:
                total = Signal(range(R * C + 1), name=f"effectual_{len(terms)}")
                m.d.sync += total.eq(sum(pair[1:], pair[0]))
                terms.append(total)
        effectual = terms[0]
        # the counters clear a cycle after the start (no event can happen in the start's
        # cycle or the next: nothing issues before the weights are in), so that `start`
        # does not fan out to every counter bit
        started = Signal()
        m.d.sync += started.eq(starting)
        m.d.comb += [
            counters.clear.eq(started),
            counters.window_issued.eq(issue & (pos == 0)),
            counters.lanes_issued.eq(Mux(issue, R, 0)),
            counters.lanes_effectual.eq(effectual),
            counters.rows_busy.eq(Mux(issue, R, 0)),
            counters.rows_idle.eq(0),
            counters.output_beat.eq(leaves),
        ]
        for name in COUNTER_NAMES:
            m.d.comb += getattr(self, name).eq(getattr(counters, name))
        return m
