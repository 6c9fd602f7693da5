"""The array of a configuration's dataflow: one table, used wherever an array is built."""

from __future__ import annotations

from amaranth.lib import wiring

from ..config import ArrayConfig
from ..errors import AccelError
from .dense_top import DenseAccelerator
from .top import Accelerator

__all__ = ["ARRAYS", "build_array"]

ARRAYS: dict[str, type[wiring.Component]] = {
    "queued": Accelerator,
    "dense": DenseAccelerator,
}
"""``[array] dataflow`` -> the top-level component; both speak ``accel.hw.driver``'s
protocol with the same ports."""


def build_array(
    config: ArrayConfig,
    *,
    max_blocks: int = 64,
    counter_width: int = 48,
    fabric: str = "generic",
    max_dsps: int | None = None,
) -> wiring.Component:
    """The top level for ``config.dataflow``.

    ``fabric`` selects hard blocks for the dense array (``accel.hw.fabric``); the queued
    array describes its datapath generically, so only ``"generic"`` is accepted for it.
    ``max_dsps`` (dense array): PEs beyond it get LUT multipliers.
    """
    if not isinstance(config, ArrayConfig):
        raise AccelError(f"config must be an ArrayConfig, not {config!r}")
    if config.dataflow == "dense":
        return DenseAccelerator(
            config,
            max_blocks=max_blocks,
            counter_width=counter_width,
            fabric=fabric,
            max_dsps=max_dsps,
        )
    if fabric != "generic":
        raise AccelError(
            f"fabric {fabric!r}: the {config.dataflow} array has no fabric-specific variant "
            "(only 'generic')"
        )
    return Accelerator(config, max_blocks=max_blocks, counter_width=counter_width)
