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
    """What a row memory holds per block: the mask and the block's nonzero values, packed.

    ``values[k]`` is the k-th nonzero weight in increasing position (the row finds the
    weight of window row j at the rank of j in the mask); the entries after the last
    nonzero are don't-care. This is the record as the weight stream carries it
    (``accel.wstream``), written as it arrives. Without weight skipping the mask would be
    all ones, so it is neither streamed nor stored, and the values are all ``block``
    weights in place.
    """
    fields = {"values": data.ArrayLayout(signed(cfg.w_bits), cfg.block)}
    if cfg.skip_weights:
        fields = {"mask": unsigned(cfg.block), **fields}
    return data.StructLayout(fields)


def weight_beat(cfg: ArrayConfig) -> data.StructLayout:
    """One beat of the weight stream: a word per lane, which lanes' words are valid, and
    ``last`` on the final beat of a row tile (``accel.wstream`` has the format)."""
    lanes = cfg.weight_lanes
    return data.StructLayout(
        {
            "words": data.ArrayLayout(unsigned(cfg.weight_word_bits), lanes),
            "valid": unsigned(lanes),
            "last": unsigned(1),
        }
    )


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
    """One beat of results: ``result_rows`` PE rows' ``cols`` outputs each (row by row),
    accumulator width, sign-extended."""
    values = data.ArrayLayout(signed(cfg.acc_bits), cfg.result_rows * cfg.cols)
    return data.StructLayout({"values": values})
