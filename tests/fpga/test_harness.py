"""The scan harness: every core port on a chain bit, and the chains really move data.

Icarus runs the harness around a small stand-in core: bits shifted in reach the core's
inputs, and the core's outputs come back out of the output chain, in order.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from accel.config import ArrayConfig
from accel.fpga.harness import HARNESS_FILE, harness_source, make_top
from accel.hw.verilog import generate, ports

STAND_IN = """
module stand_in(input wire clk, input wire rst, input wire [4:0] a, input wire b__valid,
                input wire [2:0] c, output wire [6:0] y, output wire z);
    assign y = {c, b__valid, a[4:2]};
    assign z = a[0] ^ a[1];
endmodule
"""
PORTS = [
    {"name": "clk", "direction": "input", "width": 1},
    {"name": "rst", "direction": "input", "width": 1},
    {"name": "a", "direction": "input", "width": 5},
    {"name": "b__valid", "direction": "input", "width": 1},
    {"name": "c", "direction": "input", "width": 3},
    {"name": "y", "direction": "output", "width": 7},
    {"name": "z", "direction": "output", "width": 1},
]


def test_widths_and_pins():
    h = make_top("stand_in", PORTS, pins=2)
    assert (h.in_bits, h.out_bits) == (9, 8)
    assert h.pin_count == 2 + 2 * 2 + 2
    assert ".a(core_in[4:0])" in h.verilog and ".c(core_in[8:6])" in h.verilog
    assert ".z(core_out[7:7])" in h.verilog


def test_every_port_of_the_array_is_wired():
    cfg = ArrayConfig(rows=2, cols=2, block=4, queue_depth=1)
    _, dut = generate(cfg, max_blocks=4)
    plist = ports(dut)
    h = make_top("accel_top", plist, pins=8)
    for p in plist:
        assert f".{p['name']}(" in h.verilog
    assert h.in_bits == sum(p["width"] for p in plist if p["direction"] == "input") - 2
    assert h.out_bits == sum(p["width"] for p in plist if p["direction"] == "output")


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus (make test installs it)")
@pytest.mark.parametrize("pins", [1, 2, 4])
def test_chains_on_icarus(tmp_path, pins):
    h = make_top("stand_in", PORTS, pins=pins)
    rng = random.Random(pins)
    bits = [rng.randint(0, 1) for _ in range(h.in_bits)]
    a, valid, c = bits[0:5], bits[5], bits[6:9]
    # y = {c, valid, a[4:2]}, z = a0 ^ a1: core_out bit order, LSB first
    expect = a[2:5] + [valid] + c + [a[0] ^ a[1]]
    chunks = -(-h.in_bits // pins)
    padded = bits + [0] * (chunks * pins - h.in_bits)
    words = [
        sum(b << i for i, b in enumerate(padded[k * pins : (k + 1) * pins])) for k in range(chunks)
    ]
    drive = "\n".join(f"        scan_in = {w}; @(negedge clk);" for w in words)
    out_chunks = -(-h.out_bits // pins)
    tb = f"""
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1, shift_in = 0, capture = 0;
    reg [{pins - 1}:0] scan_in = 0;
    wire [{pins - 1}:0] scan_out;
    integer k;
    synth_top dut(.clk(clk), .rst(rst), .scan_in(scan_in), .shift_in(shift_in),
                  .capture(capture), .scan_out(scan_out));
    always #5 clk = ~clk;
    initial begin
        @(negedge clk); shift_in = 1;
{drive}
        shift_in = 0;
        repeat (2) @(negedge clk);   // the last chunk reaches the chain
        capture = 1; @(negedge clk); capture = 0;
        @(negedge clk);              // capture registered, then the chain loads
        for (k = 0; k < {out_chunks}; k = k + 1) begin
            @(negedge clk); $display("OUT %0d", scan_out);
        end
        $finish;
    end
endmodule
"""
    (tmp_path / "tb.v").write_text(tb)
    (tmp_path / "top.v").write_text(h.verilog)
    (tmp_path / "core.v").write_text(STAND_IN)
    (tmp_path / HARNESS_FILE).write_text(harness_source())
    subprocess.run(
        ["iverilog", "-o", "sim.vvp", "tb.v", "top.v", "core.v", HARNESS_FILE],
        cwd=tmp_path,
        check=True,
    )
    out = subprocess.run(
        ["vvp", "sim.vvp"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    words_out = [int(line.split()[1]) for line in out.splitlines() if line.startswith("OUT")]
    got = [(w >> i) & 1 for w in words_out for i in range(pins)][: h.out_bits]
    assert got == expect
