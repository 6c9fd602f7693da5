# amaranth: UnusedElaboratable=no
"""Every hardware unit rejects bad parameters with an AccelError naming parameter and value."""

from __future__ import annotations

import re

import numpy as np
import pytest

from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.hw.counters import EventCounters
from accel.hw.driver import program
from accel.hw.issuer import WindowIssuer
from accel.hw.output_stage import OutputStage
from accel.hw.params import check_config, check_int
from accel.hw.pe import ProcessingElement
from accel.hw.row import PERow
from accel.hw.selector import Selector
from accel.hw.top import Accelerator
from accel.hw.window_queue import WindowQueue

CFG = ArrayConfig(rows=2, cols=2, block=4)
PE = dict(lanes=1, w_bits=8, a_bits=8, acc_bits=32)
OS = dict(cols=2, a_bits=8, acc_bits=32)


def names(message: str, name: str, value: object) -> bool:
    """The message holds the parameter's name and the value's repr, each as a whole word."""
    return bool(
        re.search(rf"\b{name}\b", message)
        and re.search(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])", message)
    )


BAD = [
    # unit, call, parameter, value
    ("Accelerator", lambda: Accelerator(CFG, max_blocks=0), "max_blocks", 0),
    ("Accelerator", lambda: Accelerator(CFG, max_blocks=-3), "max_blocks", -3),
    ("Accelerator", lambda: Accelerator(CFG, max_blocks=(1 << 16) + 1), "max_blocks", 65537),
    ("Accelerator", lambda: Accelerator(CFG, max_blocks=True), "max_blocks", True),
    ("Accelerator", lambda: Accelerator(CFG, max_blocks=4.0), "max_blocks", 4.0),
    ("Accelerator", lambda: Accelerator(CFG, counter_width=15), "counter_width", 15),
    ("Accelerator", lambda: Accelerator(CFG, counter_width=65), "counter_width", 65),
    ("Accelerator", lambda: Accelerator({"rows": 2}), "config", {"rows": 2}),
    ("ProcessingElement", lambda: ProcessingElement(**{**PE, "lanes": 0}), "lanes", 0),
    ("ProcessingElement", lambda: ProcessingElement(**{**PE, "w_bits": 1}), "w_bits", 1),
    ("ProcessingElement", lambda: ProcessingElement(**{**PE, "a_bits": 33}), "a_bits", 33),
    ("ProcessingElement", lambda: ProcessingElement(**{**PE, "acc_bits": 15}), "acc_bits", 15),
    ("Selector", lambda: Selector(block=4, lanes=5), "lanes", 5),
    ("Selector", lambda: Selector(block=4, lanes=0), "lanes", 0),
    ("Selector", lambda: Selector(block=0, lanes=1), "block", 0),
    ("Selector", lambda: Selector(block=65, lanes=1), "block", 65),
    ("Selector", lambda: Selector(block="4", lanes=1), "block", "4"),
    ("WindowQueue", lambda: WindowQueue(None), "config", None),
    ("WindowIssuer", lambda: WindowIssuer(CFG, max_blocks=0), "max_blocks", 0),
    ("WindowIssuer", lambda: WindowIssuer("cfg", max_blocks=4), "config", "cfg"),
    ("PERow", lambda: PERow(CFG, max_blocks=0), "max_blocks", 0),
    ("PERow", lambda: PERow(CFG, max_blocks=None), "max_blocks", None),
    ("PERow", lambda: PERow(3, max_blocks=4), "config", 3),
    ("EventCounters", lambda: EventCounters(CFG, width=15), "width", 15),
    ("EventCounters", lambda: EventCounters(CFG, width=65), "width", 65),
    ("EventCounters", lambda: EventCounters(None), "config", None),
    ("OutputStage", lambda: OutputStage(**{**OS, "cols": 0}), "cols", 0),
    ("OutputStage", lambda: OutputStage(**{**OS, "cols": 257}), "cols", 257),
    ("OutputStage", lambda: OutputStage(**{**OS, "a_bits": 1}), "a_bits", 1),
    ("OutputStage", lambda: OutputStage(**{**OS, "acc_bits": 7}), "acc_bits", 7),
    ("OutputStage", lambda: OutputStage(**{**OS, "acc_bits": 65}), "acc_bits", 65),
]


@pytest.mark.parametrize(
    "make, name, value",
    [
        pytest.param(make, name, value, id=f"{unit}-{name}={value!r}")
        for unit, make, name, value in BAD
    ],
)
def test_rejects(make, name, value):
    with pytest.raises(AccelError) as info:
        make()
    assert names(str(info.value), name, value), str(info.value)


def test_accepts_the_limits():
    """The boundaries the checks allow build, so the checks are not simply too strict."""
    Accelerator(CFG, max_blocks=1, counter_width=16)
    Accelerator(CFG, max_blocks=1 << 16, counter_width=64)
    ProcessingElement(lanes=64, w_bits=2, a_bits=2, acc_bits=4)
    Selector(block=4, lanes=4)
    Selector(block=64, lanes=1)
    Selector(block=1, lanes=1)
    WindowIssuer(CFG, max_blocks=1)
    PERow(CFG, max_blocks=1)
    EventCounters(CFG, width=16)
    EventCounters(CFG, width=64)
    OutputStage(cols=256, a_bits=8, acc_bits=8)
    OutputStage(cols=1, a_bits=32, acc_bits=64)


def test_check_helpers():
    assert check_int("x", 5, 1, 5) == 5
    assert check_config(CFG) is CFG
    with pytest.raises(AccelError, match=r"^x must be an integer in 1\.\.5, not 6$"):
        check_int("x", 6, 1, 5)
    with pytest.raises(AccelError, match=r"^x must be an integer at least 1, not 0$"):
        check_int("x", 0, 1)


@pytest.mark.parametrize("K, max_blocks", [(9, 2), (5, 1), (65, 16)])
def test_program_rejects_too_many_blocks(K, max_blocks):
    cfg = ArrayConfig(rows=2, cols=2, block=4)
    W = np.ones((3, K), dtype=np.int64)
    X = np.ones((K, 3), dtype=np.int64)
    with pytest.raises(AccelError) as info:
        program(cfg, W, X, max_blocks=max_blocks)
    message = str(info.value)
    assert names(message, "max_blocks", max_blocks), message
    assert re.search(rf"\bK={K}\b", message), message
    blocks = -(-K // 4)
    assert re.search(rf"(?<![\w.=]){blocks}(?![\w.])", message), message


@pytest.mark.parametrize("K, max_blocks", [(8, 2), (4, 1), (1, 1)])
def test_program_accepts_enough_blocks(K, max_blocks):
    cfg = ArrayConfig(rows=2, cols=2, block=4)
    prog = program(cfg, np.ones((3, K)), np.ones((K, 3)), max_blocks=max_blocks)
    assert prog.blocks == -(-K // 4)


# -- what the RTL can be generated for ------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        ArrayConfig(rows=2, cols=3, block=4),
        ArrayConfig(rows=3, cols=2, block=8, skip_acts=False, a_bits=4),
        ArrayConfig(rows=4, cols=4, block=16, result_rows=2, acc_bits=24),
    ],
)
def test_wire_widths_are_the_units_real_widths(cfg):
    """The formulas the limit is checked with are the widths the units really have."""
    from accel.hw.layouts import output_beat, window_beat
    from accel.hw.params import wire_widths
    from accel.hw.window_queue import WindowQueue

    queue = WindowQueue(cfg)
    rows = len(queue.rows.as_value()) + (len(queue.active.as_value()) if cfg.skip_acts else 0)
    widths = wire_widths(cfg)
    assert widths["the window queue's output to the rows"][0] == rows
    assert widths["a window beat"][0] == window_beat(cfg).size
    assert widths["a result beat"][0] == output_beat(cfg).size


def test_arrays_over_the_wire_limit_are_refused_before_elaborating():
    from accel.hw.params import check_wire_widths
    from accel.hw.top import Accelerator

    at_limit = ArrayConfig(rows=16, cols=32, skip_acts=False)  # exactly 65,536 bits
    assert check_wire_widths(at_limit) is at_limit
    for rows, cols in ((16, 32), (32, 32), (24, 24), (64, 8), (8, 64), (256, 256)):
        with pytest.raises(AccelError, match=f"rows={rows}, cols={cols}, block=16: .* bits wide"):
            Accelerator(ArrayConfig(rows=rows, cols=cols))
