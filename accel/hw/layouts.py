"""Stream payload layouts shared by the units, the top level and the host driver.

Packing follows Amaranth: struct fields from the least significant bit in declaration
order, array elements from index 0 upwards.
"""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data

from ..config import ArrayConfig

__all__ = ["weight_record", "weight_beat", "window_beat", "queue_entry", "output_beat"]


def weight_record(cfg: ArrayConfig) -> data.StructLayout:
    """What a row memory holds per block: the mask and the block's values, in place.

    The memory is ``block`` values wide whether or not the values are packed, and in place
    the weight of window row j is ``values[j]``: the row picks it with the same one-hot
    select as the activations, with no popcount to find a packed index. Without weight
    skipping the mask would be all ones, so it is neither streamed nor stored: the dense
    baseline's memories are ``block`` bits per record narrower.
    """
    fields = {"values": data.ArrayLayout(signed(cfg.w_bits), cfg.block)}
    if cfg.skip_weights:
        fields = {"mask": unsigned(cfg.block), **fields}
    return data.StructLayout(fields)


def weight_beat(cfg: ArrayConfig) -> data.StructLayout:
    """One beat of the weight stream: a (row, block) record and that row's bias.

    Beats come row-major within a row tile (row 0's blocks, then row 1's, ...); the bias
    is taken from each row's first beat.
    """
    return data.StructLayout({"record": weight_record(cfg), "bias": signed(cfg.acc_bits)})


def window_beat(cfg: ArrayConfig) -> data.StructLayout:
    """One beat of the activation stream: a window of ``block`` rows of ``cols`` values."""
    row = data.ArrayLayout(signed(cfg.a_bits), cfg.cols)
    return data.StructLayout({"rows": data.ArrayLayout(row, cfg.block)})


def queue_entry(cfg: ArrayConfig) -> data.StructLayout:
    """A window as the queue holds it: the rows plus their activity mask (only when
    activation skipping is on; otherwise every row is active and nothing is stored)."""
    fields = {"rows": window_beat(cfg)["rows"].shape}
    if cfg.skip_acts:
        fields["active"] = unsigned(cfg.block)
    return data.StructLayout(fields)


def output_beat(cfg: ArrayConfig) -> data.StructLayout:
    """One beat of results: one PE row's ``cols`` outputs, accumulator width, sign-extended."""
    return data.StructLayout({"values": data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)})
