// Registered scan harness for timing and pin count: `accel synth` wraps the generated core in it.
//
// Every core input is driven by a flip-flop and every core output is captured by one, so
// the placed-and-routed Fmax covers every path of the core (unregistered top-level pins
// would hide the input-to-register paths). The core's ports are far wider than any package
// has pins, so they are reached through two scan chains of PINS bits per cycle:
//
//   scan_in --shift_in--> input chain (its flip-flops drive the core's inputs)
//   core outputs --capture--> output chain --shift--> scan_out (PINS bits per cycle)
//
// Every pin is registered on its way in and out. The chains are one flip-flop per core
// port bit, the output chain with a 2:1 multiplexer in front of each, plus one register
// per port bit between the chains and the core (see below): that is what the report
// lists as the harness's cost, apart from the core's own cells. Hand-written
// source, not generated.
`default_nettype none

module scan_harness #(
    parameter integer IN_W  = 8,   // core input bits (clock and reset excluded)
    parameter integer OUT_W = 8,   // core output bits
    parameter integer PINS  = 4    // scan pins each way
) (
    input  wire             clk,
    input  wire             rst_pin,
    input  wire [PINS-1:0]  scan_in,
    input  wire             shift_in,
    input  wire             capture,
    output reg  [PINS-1:0]  scan_out,
    output wire             core_rst,
    output wire [IN_W-1:0]  core_in,
    input  wire [OUT_W-1:0] core_out
);
    localparam integer IN_LEN  = ((IN_W  + PINS - 1) / PINS) * PINS;
    localparam integer OUT_LEN = ((OUT_W + PINS - 1) / PINS) * PINS;

    reg [PINS-1:0] scan_in_q;
    reg            shift_q, capture_q;
    reg [1:0]      rst_sync;
    always @(posedge clk) begin
        scan_in_q <= scan_in;
        shift_q   <= shift_in;
        capture_q <= capture;
        rst_sync  <= {rst_sync[0], rst_pin};
    end
    assign core_rst = rst_sync[1];

    reg [IN_LEN-1:0] in_chain;
    always @(posedge clk) begin
        if (shift_q)
            in_chain <= {scan_in_q, in_chain[IN_LEN-1:PINS]};
    end
    // A register of its own between the chain and each core input, and between each
    // core output and the chain: a chain flip-flop must sit beside its chain neighbours,
    // so a core path that started or ended at one would be stretched across the die to
    // wherever the chain runs. These stand in for the FIFO or register slice next to the
    // core in a real system; the core's own paths are measured unchanged.
    reg [IN_W-1:0] core_in_q;
    always @(posedge clk)
        core_in_q <= in_chain[IN_W-1:0];
    assign core_in = core_in_q;
    reg [OUT_W-1:0] core_out_q;
    always @(posedge clk)
        core_out_q <= core_out;

    reg [OUT_LEN-1:0] out_chain;
    always @(posedge clk) begin
        if (capture_q)
            out_chain <= core_out_q;  // zero-extended to the chain length
        else
            out_chain <= out_chain >> PINS;
        scan_out <= out_chain[PINS-1:0];
    end
endmodule

`default_nettype wire
