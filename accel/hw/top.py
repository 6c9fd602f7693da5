"""The top level: weight and window streams in, results out, a small control interface."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import wstream
from ..config import ArrayConfig
from ..errors import AccelError
from . import timing
from .counters import COUNTER_NAMES, EventCounters
from .issuer import WindowIssuer
from .layouts import output_beat, weight_beat, weight_record, window_beat
from .output_stage import OutputStage
from .params import check_config, check_int, check_wire_widths
from .row import PERow
from .weight_lane import WeightLane
from .window_queue import WindowQueue

__all__ = ["Accelerator", "array_members"]

MAX_TILES = 1 << 16


def array_members(cfg: ArrayConfig, *, max_blocks: int, counter_width: int) -> dict:
    """The ports every array has, whatever its dataflow: the protocol of
    ``accel.hw.driver`` (streams, layer shape, output options, control, counters)."""
    return {
        "weights": In(stream.Signature(weight_beat(cfg))),
        "acts": In(stream.Signature(window_beat(cfg))),
        "results": Out(stream.Signature(output_beat(cfg))),
        "row_tiles": In(range(MAX_TILES + 1)),
        "col_tiles": In(range(MAX_TILES + 1)),
        "blocks": In(range(max_blocks + 1)),
        "relu": In(1),
        "requant": In(1),
        "shift": In(range(cfg.acc_bits)),
        "start": In(1),
        "busy": Out(1),
        "done": Out(1),
        **{name: Out(unsigned(counter_width)) for name in COUNTER_NAMES},
    }


class Accelerator(wiring.Component):
    """The zero-skipping array, built from an :class:`ArrayConfig`.

    Protocol (``accel.hw.driver`` speaks it): set the layer shape (``row_tiles``,
    ``col_tiles``, ``blocks``; each at least 1) and the output options (``relu``,
    ``requant``, ``shift``), pulse ``start``. For every row tile the array takes its
    beats of the packed weight stream on ``weights`` (``accel.wstream``: lanes of
    whole-word biases and records, ``last`` on the row tile's final beat), and for every
    column tile ``blocks`` windows on ``acts``; it emits ``rows / result_rows`` beats on
    ``results`` per tile (PE rows 0.. first). The two input streams are independent:
    weights are double-buffered, so row tile t + 1's beats are taken while row tile t
    computes (once row tile t - 1 has captured its last tile). ``busy`` is high from
    ``start`` until the last result has left; ``done`` pulses in the cycle after. The
    counters restart at ``start`` and hold their values until the next one.

    Fixed latencies (``docs/architecture.md``): a row tile's weights are written by its
    lanes one item per lane per cycle, and it starts when they are in and the previous
    tile has been captured; a tile's last MAC lands ``timing.MAC_PIPELINE`` cycles after its last
    work cycle and the accumulators are captured then. If the output buffer has drained
    by then, the next column tile starts two cycles after the last work cycle and the
    capture follows by countdown (overlapped tiles); otherwise FSM state FLUSH waits
    for the pipeline and CAPTURE for the buffer. Results drain one row per cycle while
    the next tile computes.
    """

    def __init__(self, config: ArrayConfig, *, max_blocks: int = 64, counter_width: int = 48):
        try:
            self._config = cfg = check_wire_widths(check_config(config))
            self._max_blocks = check_int("max_blocks", max_blocks, 1, 1 << 16)
            self._counter_width = check_int("counter_width", counter_width, 16, 64)
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

    def elaborate(self, platform):
        cfg = self._config
        R, C = cfg.rows, cfg.cols
        m = Module()

        m.submodules.issuer = issuer = WindowIssuer(cfg, max_blocks=self._max_blocks)
        m.submodules.queue = queue = WindowQueue(cfg)
        m.submodules.counters = counters = EventCounters(cfg, width=self._counter_width)
        # `result_rows` PE rows leave per results beat, each through its own output stage
        # (the stages get the same handshake, so they move in step)
        k = cfg.result_rows
        stages = [OutputStage(cols=C, a_bits=cfg.a_bits, acc_bits=cfg.acc_bits) for _ in range(k)]
        for j, st in enumerate(stages):
            m.submodules[f"output_stage{j}" if k > 1 else "output_stage"] = st
        stage = stages[0]
        wiring.connect(m, wiring.flipped(self.acts), issuer.i)
        wiring.connect(m, issuer.o, queue.i)

        rows = []
        for r in range(R):
            # without weight skipping the rows run in lockstep and share row 0's pick
            follower = r > 0 and not cfg.skip_weights
            row = PERow(cfg, max_blocks=self._max_blocks, follower=follower)
            m.submodules[f"row{r}"] = row
            rows.append(row)
            if follower:
                m.d.comb += row.x_in.eq(rows[0].x_out)
            m.d.comb += [
                row.available.eq(queue.available[r]),
                row.rows.eq(queue.rows[r]),
                *([row.active.eq(queue.active[r])] if cfg.skip_acts else []),
                row.blocks.eq(self.blocks),
            ]
        m.d.comb += queue.take.eq(Cat(row.take for row in rows))  # one vector, not R parts

        # Layer position. The compute side works on row tile `row_tile`, from bank
        # row_tile[0]; the weight stream's beats belong to row tile `beat_tile`, which may
        # run one row tile ahead (its bank is free once compute has left it).
        row_tile = Signal(range(MAX_TILES + 1))
        col_tile = Signal(range(MAX_TILES + 1))
        beat_tile = Signal(range(MAX_TILES + 1))
        run = Signal()  # a tile is computing
        compute = Signal()  # a tile's compute cycles: after its first, until its last work
        capture = Signal()

        # Results: a second buffer of R x C accumulators, drained `result_rows` rows per
        # beat as a shift register (row 0 leaves first; no R-way multiplexer).
        acc = data.ArrayLayout(signed(cfg.acc_bits), C)
        held = [Signal(acc, name=f"held{r}") for r in range(R)]
        held_bias = [Signal(signed(cfg.acc_bits), name=f"held_bias{r}") for r in range(R)]
        draining = Signal()
        beats = R // k
        drain_row = Signal(range(beats))
        sent = stage.i.valid & stage.i.ready  # a beat left the buffer for the output stage
        last_sent = sent & (drain_row == beats - 1)
        buffer_free = ~draining | last_sent
        leaves = self.results.valid & self.results.ready  # a result beat left the array
        for j, st in enumerate(stages):
            m.d.comb += [
                st.i.payload.acc.eq(held[j]),
                st.i.payload.bias.eq(held_bias[j]),
                st.i.valid.eq(draining),
                st.relu.eq(self.relu),
                st.requant.eq(self.requant),
                st.shift.eq(self.shift),
                st.o.ready.eq(self.results.ready),
            ]
        m.d.comb += [
            self.results.payload.values.eq(Cat(st.o.payload for st in stages)),
            self.results.valid.eq(stage.o.valid),
        ]
        with m.If(sent):
            m.d.sync += drain_row.eq(drain_row + 1)
            for r in range(R - k):
                m.d.sync += [held[r].eq(held[r + k]), held_bias[r].eq(held_bias[r + k])]
            with m.If(last_sent):
                m.d.sync += [drain_row.eq(0), draining.eq(0)]
        with m.If(capture):
            m.d.sync += draining.eq(1)
            for r, row in enumerate(rows):
                m.d.sync += [held[r].eq(row.acc), held_bias[r].eq(row.bias_value)]
        for row in rows:
            m.d.comb += [row.clear.eq(capture), row.run.eq(run)]
        m.d.comb += issuer.run.eq(run)
        m.d.comb += issuer.blocks.eq(self.blocks)

        all_done = Signal()
        m.d.comb += all_done.eq(sum(row.done for row in rows) == R)
        first_cycle = Signal()
        m.d.sync += first_cycle.eq(0)

        # The FSM holds only state and registers; every combinational output is an
        # expression of the state (`ongoing`), never assigned inside a state: Icarus does
        # not evaluate `always @*` blocks at time 0, and a comb value assigned in a case
        # arm would read X until the state first changes.
        # The loader: the weight stream's lanes (`accel.wstream`), each parsing the words
        # of its rows and writing one bias or record per cycle into its rows' load bank.
        # A beat is taken whenever its row tile's bank is free; lanes never stall.
        load_fire = Signal()
        loading = Signal()
        beat = self.weights.payload
        lanes = []
        for i in range(min(cfg.weight_lanes, R)):
            lane = WeightLane(cfg, rows=len(wstream.lane_rows(cfg, i)), max_blocks=self._max_blocks)
            m.submodules[f"lane{i}"] = lane
            lanes.append(lane)
            m.d.comb += [
                lane.word.eq(beat.words[i]),
                lane.push.eq(load_fire & beat.valid[i]),
                lane.clear.eq(self.start & ~self.busy),
                lane.blocks.eq(self.blocks),
            ]
        with m.If(load_fire & beat.last):
            m.d.sync += beat_tile.eq(beat_tile + 1)
        with m.If(self.start & ~self.busy):
            m.d.sync += beat_tile.eq(0)

        def loaded(tile: Value) -> Value:
            """Row tile `tile`'s weights are all written by the end of this cycle."""
            done = [(ln.tiles > tile) | ((ln.tiles == tile) & ln.tile_end) for ln in lanes]
            return Cat(done).all()

        # Overlapped tiles: when a tile's rows are done and the output buffer is already
        # empty, the next column tile of the same row tile starts at once, and the
        # finished tile's capture comes `countdown` cycles later, in the cycle its last
        # product has landed (the next tile's first product lands three cycles after
        # that). With a drain still running, the capture could be held up, so the FSM
        # takes the long way: FLUSH, CAPTURE when the buffer is free, then the next tile.
        flush = Signal(range(timing.MAC_PIPELINE + 1))
        countdown = Signal(range(timing.MAC_PIPELINE + 1))
        overlap = Signal()
        m.d.comb += overlap.eq(~draining & (countdown == 0) & (col_tile != self.col_tiles - 1))
        with m.If(countdown != 0):
            m.d.sync += countdown.eq(countdown - 1)
        with m.FSM() as fsm:
            with m.State("IDLE"), m.If(self.start):
                m.d.sync += [row_tile.eq(0), col_tile.eq(0)]
                m.next = "WAIT"
            with m.State("WAIT"), m.If(loaded(row_tile)):  # for the row tile's weights
                m.d.sync += first_cycle.eq(1)
                m.next = "TILE"
            with m.State("TILE"), m.If(all_done):
                # The rows are done; their last products are still in the pipeline.
                with m.If(overlap):  # the next tile starts now, the capture follows later
                    m.d.sync += [
                        col_tile.eq(col_tile + 1),
                        first_cycle.eq(1),
                        countdown.eq(timing.MAC_PIPELINE - 1),
                    ]
                with m.Else():
                    m.d.sync += flush.eq(timing.MAC_PIPELINE - 2)
                    m.next = "FLUSH" if timing.MAC_PIPELINE > 2 else "CAPTURE"
            with m.State("FLUSH"):
                m.d.sync += flush.eq(flush - 1)
                with m.If(flush == 1):
                    m.next = "CAPTURE"
            with m.State("CAPTURE"), m.If(capture):
                with m.If(col_tile == self.col_tiles - 1):
                    m.d.sync += col_tile.eq(0)
                    with m.If(row_tile == self.row_tiles - 1):
                        m.next = "FINISH"
                    with m.Else():
                        m.d.sync += row_tile.eq(row_tile + 1)
                        with m.If(loaded(row_tile + 1)):
                            m.d.sync += first_cycle.eq(1)
                            m.next = "TILE"
                        with m.Else():
                            m.next = "WAIT"
                with m.Else():
                    m.d.sync += [col_tile.eq(col_tile + 1), first_cycle.eq(1)]
                    m.next = "TILE"
            with m.State("FINISH"), m.If(last_sent):
                m.next = "EMPTY"  # the last results are still in the output stage
            with m.State("EMPTY"), m.If(leaves & ~stage.pending):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += [
            self.busy.eq(~fsm.ongoing("IDLE")),
            loading.eq(self.busy & (beat_tile < self.row_tiles) & (beat_tile <= row_tile + 1)),
            self.weights.ready.eq(loading),
            load_fire.eq(loading & self.weights.valid),
            run.eq(fsm.ongoing("TILE") & ~all_done),  # low for a cycle restarts the rows
            compute.eq(fsm.ongoing("TILE") & ~first_cycle & ~all_done),
            capture.eq((fsm.ongoing("CAPTURE") & buffer_free) | (countdown == 1)),
        ]
        record_bits = weight_record(cfg).size
        for r, row in enumerate(rows):
            lane = lanes[r % cfg.weight_lanes]
            hit = lane.emit & (lane.row == r // cfg.weight_lanes)
            m.d.comb += [
                row.load.eq(lane.item[:record_bits]),
                row.load_addr.eq(lane.block),
                row.load_bank.eq(lane.bank),
                row.load_en.eq(hit & ~lane.is_bias),
                row.bias.eq(lane.item[: cfg.acc_bits]),
                row.bias_en.eq(hit & lane.is_bias),
                row.bank.eq(row_tile[0]),
            ]
        with m.If(self.done):
            m.d.sync += self.done.eq(0)

        busy_rows = sum(row.busy for row in rows)
        m.d.comb += [
            counters.clear.eq(self.start & ~self.busy),
            counters.window_issued.eq(issuer.issued),
            counters.lanes_issued.eq(sum(row.issued for row in rows)),
            counters.lanes_effectual.eq(sum(row.effectual for row in rows)),
            counters.rows_busy.eq(busy_rows),
            counters.rows_idle.eq(Mux(compute, R - busy_rows, 0)),
            counters.output_beat.eq(leaves),
        ]
        for name in COUNTER_NAMES:
            m.d.comb += getattr(self, name).eq(getattr(counters, name))
        return m
