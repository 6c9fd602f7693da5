"""Parameter checks shared by the hardware units: errors name the parameter and value."""

from __future__ import annotations

from ..config import ArrayConfig
from ..errors import AccelError

__all__ = ["MAX_WIRE_BITS", "check_int", "check_config", "check_wire_widths", "wire_widths"]


def check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AccelError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        span = f"at least {lo}" if hi is None else f"in {lo}..{hi}"
        raise AccelError(f"{name} must be an integer {span}, not {value!r}")
    return value


def check_config(config: object) -> ArrayConfig:
    if not isinstance(config, ArrayConfig):
        raise AccelError(f"config must be an ArrayConfig, not {config!r}")
    return config


MAX_WIRE_BITS = 1 << 16  # Amaranth refuses wider wires (Verilog only promises 2**16)


def wire_widths(cfg: ArrayConfig) -> dict[str, tuple[int, str]]:
    """The widest signals the array has, by what they are: ``(bits, formula)``. Every one
    grows with the configuration; the window queue's output to the rows is the first to
    reach the limit (it carries every row's current window)."""
    R, C, B = cfg.rows, cfg.cols, cfg.block
    active = 1 if cfg.skip_acts else 0
    return {
        "the window queue's output to the rows": (
            R * B * (C * cfg.a_bits + active),
            "rows x block x (cols x a_bits + 1)" if active else "rows x block x cols x a_bits",
        ),
        "a window beat": (B * C * cfg.a_bits, "block x cols x a_bits"),
        "a result beat": (cfg.result_rows * C * cfg.acc_bits, "result_rows x cols x acc_bits"),
    }


def check_wire_widths(cfg: ArrayConfig) -> ArrayConfig:
    """Refuse, before elaborating anything, an array the RTL cannot be generated for
    (the simulator takes it: only the hardware has this limit)."""
    for what, (bits, formula) in wire_widths(cfg).items():
        if bits > MAX_WIRE_BITS:
            raise AccelError(
                f"rows={cfg.rows}, cols={cfg.cols}, block={cfg.block}: {what} would be "
                f"{bits:,} bits wide ({formula}), over the {MAX_WIRE_BITS:,} bits Amaranth "
                "allows for one wire; the RTL needs a smaller block, fewer columns or rows "
                "(16x16 at block 16: 33,024 bits)"
            )
    return cfg
