"""Frozen, validated configuration: the array (the contract's parameters) and the system
around it (clock, DRAM, global buffer).

The field names of :class:`ArrayConfig` are the keys of a TOML file's ``[array]`` table,
those of :class:`SystemConfig` the keys of its ``[system]`` table. Every value is checked
at construction, so a config that exists is a config that is valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import AccelError, brief, cut
from .tomlfile import read_toml

__all__ = ["ArrayConfig", "DATAFLOWS", "SystemConfig", "Config", "load_config"]

MAX_BLOCK = 64  # masks are held as one 64-bit word per block

DATAFLOWS = ("queued", "dense")
"""``queued``: rows with their own window queues skip zeros (contract v1.1, sections 2-6);
``dense``: the plain output-stationary reference array, one activation row per cycle
broadcast to every PE row, no zero skipped (``docs/architecture.md``)."""


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AccelError(f"{name} must be an integer, not {brief(value)}", field=name)
    if value < lo or (hi is not None and value > hi):
        span = f"at least {lo}" if hi is None else f"in {lo}..{hi}"
        raise AccelError(f"{name} must be an integer {span}, not {brief(value)}", field=name)


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise AccelError(f"{name} must be true or false, not {brief(value)}", field=name)


def _check_positive(name: str, value: Any, lo: float = 1e-6, hi: float = 1e12) -> None:
    """A finite positive number in a sane range: a denormal or huge value would only
    come back as an overflow, ``inf`` or ``NaN`` somewhere deep inside."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not lo <= value <= hi  # also rejects NaN and infinities
    ):
        raise AccelError(
            f"{name} must be a number in {lo:g}..{hi:g}, not {brief(value)}", field=name
        )


@dataclass(frozen=True)
class ArrayConfig:
    """The PE array: the parameters of the dataflow contract, section 2."""

    rows: int = 16
    cols: int = 16
    block: int = 16
    queue_depth: int = 4
    lanes: int = 1
    w_bits: int = 8
    a_bits: int = 8
    acc_bits: int = 32
    skip_weights: bool = True
    skip_acts: bool = True
    weight_bus_bits: int = 128
    weight_lanes: int = 4
    result_rows: int = 1
    dataflow: str = "queued"

    def __post_init__(self) -> None:
        if self.dataflow not in DATAFLOWS:
            raise AccelError(
                f"dataflow must be one of {', '.join(DATAFLOWS)}, not {brief(self.dataflow)}",
                field="dataflow",
            )
        if self.dataflow == "dense":
            # the reference skips nothing: its masks would be all ones, so the skip keys
            # are off whatever a file says (the dense dataflow has no other meaning)
            object.__setattr__(self, "skip_weights", False)
            object.__setattr__(self, "skip_acts", False)
        _check_int("rows", self.rows, 1, 256)
        _check_int("cols", self.cols, 1, 256)
        _check_int("block", self.block, 1, MAX_BLOCK)
        _check_int("queue_depth", self.queue_depth, 1, 64)
        _check_int("lanes", self.lanes, 1, self.block)
        _check_int("w_bits", self.w_bits, 2, 32)
        _check_int("a_bits", self.a_bits, 2, 32)
        _check_int("acc_bits", self.acc_bits, self.w_bits + self.a_bits, 64)
        _check_bool("skip_weights", self.skip_weights)
        _check_bool("skip_acts", self.skip_acts)
        _check_int("weight_lanes", self.weight_lanes, 1, 64)
        _check_int("weight_bus_bits", self.weight_bus_bits, 8, 4096)
        if self.weight_bus_bits % self.weight_lanes or self.weight_word_bits < 8:
            raise AccelError(
                f"weight_bus_bits must be a multiple of weight_lanes ({self.weight_lanes}) "
                f"with at least 8 bits per lane, not {self.weight_bus_bits!r}",
                field="weight_bus_bits",
            )

        if self.dataflow == "dense" and self.lanes != 1:
            raise AccelError(
                f"lanes must be 1 with dataflow dense (one K row per cycle), not {self.lanes!r}",
                field="lanes",
            )
        _check_int("result_rows", self.result_rows, 1, self.rows)
        if self.rows % self.result_rows:
            raise AccelError(
                f"result_rows must divide rows ({self.rows}), not {self.result_rows!r}",
                field="result_rows",
            )

    @property
    def weight_word_bits(self) -> int:
        """Width of one lane of the weight stream: each lane carries whole words."""
        return self.weight_bus_bits // self.weight_lanes

    @property
    def dense(self) -> bool:
        """True for the dense baseline: no zero is skipped."""
        return not (self.skip_weights or self.skip_acts)

    def as_dense(self) -> ArrayConfig:
        """The dense baseline on the same array (the same dataflow, skipping nothing)."""
        return dataclasses.replace(self, skip_weights=False, skip_acts=False)

    def dense_reference(self) -> ArrayConfig:
        """The dense reference array of the same size that equal-area figures compare
        against: ``dataflow = "dense"`` with the same rows, columns, widths, weight stream
        and result beat, and a block of one weight-stream word (``weight_word_bits /
        w_bits`` values, at most 64, at least 1): the dense array picks one K row of a
        block per cycle, so a small block keeps that pick and the K padding small."""
        block = max(1, min(MAX_BLOCK, self.weight_word_bits // self.w_bits))
        return dataclasses.replace(
            self, dataflow="dense", block=block, lanes=1, queue_depth=1,
            skip_weights=False, skip_acts=False,
        )  # fmt: skip


@dataclass(frozen=True)
class SystemConfig:
    """What surrounds the core: clock, DRAM and the global buffer (GLB)."""

    clock_mhz: float = 200.0
    dram_bytes_per_cycle: float = 32.0
    glb_kib: int = 1024
    glb_bytes_per_cycle: float = 256.0

    def __post_init__(self) -> None:
        _check_positive("clock_mhz", self.clock_mhz, 1e-3, 1e6)
        _check_positive("dram_bytes_per_cycle", self.dram_bytes_per_cycle)
        _check_int("glb_kib", self.glb_kib, 1)
        _check_positive("glb_bytes_per_cycle", self.glb_bytes_per_cycle)

    @property
    def glb_bytes(self) -> int:
        return self.glb_kib * 1024


@dataclass(frozen=True)
class Config:
    """Everything a simulation needs to know about the hardware."""

    array: ArrayConfig = field(default_factory=ArrayConfig)
    system: SystemConfig = field(default_factory=SystemConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {"array": dataclasses.asdict(self.array), "system": dataclasses.asdict(self.system)}

    def to_toml(self) -> str:
        lines = []
        for table, values in self.to_dict().items():
            lines.append(f"[{table}]")
            for key, value in values.items():
                if isinstance(value, bool):
                    value = str(value).lower()
                elif isinstance(value, str):
                    value = f'"{value}"'
                lines.append(f"{key} = {value}")
            lines.append("")
        return "\n".join(lines)


_TABLES = {"array": ArrayConfig, "system": SystemConfig}


def _build(table: str, values: Mapping[str, Any], source: str | None):
    cls = _TABLES[table]
    try:
        return cls(**values)
    except AccelError as err:
        raise AccelError(f"[{table}] {err}", source=source, field=err.field) from None


def _check_tables(data: Mapping[str, Any], source: str | None) -> None:
    """Unknown tables and keys are errors, whatever their values."""
    for table, values in data.items():
        if not isinstance(values, Mapping) and table not in _TABLES:  # `rows = 16` on top
            owner = [t for t, cls in _TABLES.items() if table in {f.name for f in fields(cls)}]
            where = f"under [{owner[0]}]" if owner else "in [array] or [system]"
            raise AccelError(
                f"key {brief(table)} is outside any table; put it {where}", source=source
            )
        if table not in _TABLES:
            raise AccelError(
                f"unknown table [{cut(table)}] (known: [array], [system])", source=source
            )
        if not isinstance(values, Mapping):
            raise AccelError(f"{table} must be a table, not {brief(values)}", source=source)
        known = {f.name for f in fields(_TABLES[table])}
        for key in values:
            if key not in known:
                raise AccelError(
                    f"[{table}] unknown key {brief(key)} (known: {', '.join(sorted(known))})",
                    source=source,
                )


def config_from_dict(data: Mapping[str, Any], source: str | None = None) -> Config:
    """Build a :class:`Config` from ``{"array": {...}, "system": {...}}``."""
    _check_tables(data, source)
    return Config(
        array=_build("array", data.get("array", {}), source),
        system=_build("system", data.get("system", {}), source),
    )


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read a TOML file (or start from the defaults) and apply per-field overrides.

    ``overrides`` maps a table name to the fields to replace, as the CLI's
    ``--rows 8`` style flags give them.
    """
    data: dict[str, dict[str, Any]] = {}
    source = None
    if path is not None:
        source = str(path)
        data = read_toml(path, "config")
        _check_tables(data, source)
    merged = {t: dict(data.get(t, {})) for t in _TABLES}
    given: set[str] = set()
    for table, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                merged[table][key] = value
                given.add(key)
    try:
        return config_from_dict(merged, source)
    except AccelError as err:
        if err.field in given:  # the flag the user typed is the culprit: name the flag
            flag = "--" + err.field.replace("_", "-")
            value = merged["array"].get(err.field, merged["system"].get(err.field))
            raise AccelError(f"{flag} {value}: {err.message.split('] ', 1)[-1]}") from None
        raise
