"""Parameter checks shared by the hardware units: errors name the parameter and value."""

from __future__ import annotations

from ..config import ArrayConfig
from ..errors import AccelError

__all__ = ["check_int", "check_config"]


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
