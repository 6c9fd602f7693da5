"""Energy = action counts x energy per action, the table being data (a TOML file).

The simulator only counts; this module prices the counts. Entries and their sources
live in ``energy_45nm.toml``; a user table has the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import ArrayConfig
from ..errors import AccelError, brief, cut
from ..tomlfile import parse_toml, read_toml
from .memory import Traffic
from .schedule import Counters

__all__ = [
    "ACTIONS",
    "EnergyTable",
    "action_counts",
    "energy_breakdown",
    "load_energy_table",
    "price",
]

_REQUIRED = {
    "compute": ("multiply_pj", "add_pj", "gated_pj"),
    "memory": ("array_pj_per_bit", "glb_pj_per_bit", "dram_pj_per_bit"),
    "static": ("pe_cycle_pj",),
}
_DEFAULT = "energy_45nm.toml"


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action (pJ), the reference widths, and where each number comes from."""

    name: str
    values: dict[str, float]
    bits: dict[str, int]
    sources: dict[str, str]
    path: str

    def mac_pj(self, cfg: ArrayConfig) -> float:
        """An effectual MAC at the configured widths."""
        mul_ref = self.bits.get("multiply_pj", 8)
        add_ref = self.bits.get("add_pj", 32)
        return (
            self.values["multiply_pj"] * (cfg.w_bits * cfg.a_bits) / (mul_ref * mul_ref)
            + self.values["add_pj"] * cfg.acc_bits / add_ref
        )

    def gated_pj(self, cfg: ArrayConfig) -> float:
        return self.values["gated_pj"] * max(cfg.w_bits, cfg.a_bits) / self.bits.get("gated_pj", 8)


_ENTRY_KEYS = {"value", "bits", "source"}


MAX_PJ = 1e6
"""The largest energy per action accepted (1 uJ): totals stay finite for any workload."""


def _entry(table: str, key: str, entry: Any, source: str) -> tuple[float, int | None, str]:
    """One ``key = { value = .., bits = .., source = .. }`` (or a bare number)."""
    where = f"[{table}] {key}"
    if isinstance(entry, dict):
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise AccelError(f"{where}: unknown field {brief(sorted(unknown)[0])}", source=source)
        if "value" not in entry:
            raise AccelError(f"{where}: missing field 'value'", source=source)
        value, bits, text = entry["value"], entry.get("bits"), str(entry.get("source", ""))
    else:
        value, bits, text = entry, None, ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_PJ:
        raise AccelError(  # beyond it, a network's energy would overflow to inf and NaN
            f"{where} must be a number in 0..{MAX_PJ:g} (pJ), not {brief(value)}", source=source
        )
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits < 1):
        raise AccelError(
            f"{where}.bits must be a positive integer, not {brief(bits)}", source=source
        )
    return float(value), bits, text


def _parse(data: dict[str, Any], source: str) -> EnergyTable:
    unknown = set(data) - set(_REQUIRED) - {"meta"}
    if unknown:
        name = sorted(unknown)[0]
        if not isinstance(data[name], dict):
            raise AccelError(f"key {brief(name)} is outside any table", source=source)
        raise AccelError(f"unknown table [{cut(name)}]", source=source)
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise AccelError(f"meta must be a table, not {brief(meta)}", source=source)
    values: dict[str, float] = {}
    bits: dict[str, int] = {}
    sources: dict[str, str] = {}
    for table, keys in _REQUIRED.items():
        section = data.get(table)
        if not isinstance(section, dict):
            raise AccelError(f"missing table [{table}]", source=source)
        unknown = set(section) - set(keys)
        if unknown:
            raise AccelError(f"[{table}] unknown key {brief(sorted(unknown)[0])}", source=source)
        for key in keys:
            if key not in section:
                raise AccelError(f"[{table}] missing key {brief(key)}", source=source)
            values[key], b, sources[key] = _entry(table, key, section[key], source)
            if b is not None:
                bits[key] = b
    name = str(meta.get("name", Path(source).stem))
    table = EnergyTable(name=name, values=values, bits=bits, sources=sources, path=source)
    ref = ArrayConfig()  # 8-bit operands, 32-bit accumulators
    if table.gated_pj(ref) >= table.mac_pj(ref):
        raise AccelError(
            f"[compute] gated_pj = {values['gated_pj']:g} must be below an effectual MAC "
            f"(multiply + add = {table.mac_pj(ref):g} pJ at 8-bit operands): a gated MAC "
            "does not toggle its multiplier",
            source=source,
        )
    return table


def load_energy_table(path: str | Path | None = None) -> EnergyTable:
    """The packaged 45 nm table, or a user's TOML file with the same keys."""
    if path is None:
        text = resources.files(__package__).joinpath(_DEFAULT).read_text(encoding="utf-8")
        source = f"accel/perf/{_DEFAULT}"
        data = parse_toml(text, source)
    else:
        source = str(path)
        data = read_toml(path, "energy table")
    return _parse(data, source)


ACTIONS = (
    "mac_effectual",
    "mac_gated",
    "array_weights",
    "array_windows",
    "array_outputs",
    "glb",
    "dram",
    "static",
)
"""What the energy model prices: MACs, bits moved at each level, PE-cycles (static)."""

_PRICE = {  # action -> its energy per count, from the table and the configured widths
    "mac_effectual": lambda t, cfg: t.mac_pj(cfg),
    "mac_gated": lambda t, cfg: t.gated_pj(cfg),
    "array_weights": lambda t, cfg: t.values["array_pj_per_bit"],
    "array_windows": lambda t, cfg: t.values["array_pj_per_bit"],
    "array_outputs": lambda t, cfg: t.values["array_pj_per_bit"],
    "glb": lambda t, cfg: t.values["glb_pj_per_bit"],
    "dram": lambda t, cfg: t.values["dram_pj_per_bit"],
    "static": lambda t, cfg: t.values["pe_cycle_pj"],
}

_LEVELS = {
    "compute": ("mac_effectual", "mac_gated"),
    "array": ("array_weights", "array_windows", "array_outputs"),
    "glb": ("glb",),
    "dram": ("dram",),
    "static": ("static",),
}


def action_counts(
    cfg: ArrayConfig, counters: Counters, traffic: Traffic, total_cycles: int
) -> dict[str, float]:
    """How often each priced action happens: what a sweep stores, so that any energy
    table prices a design point afterwards without simulating it again."""
    return {
        "mac_effectual": counters.macs_effectual,
        "mac_gated": counters.macs_gated,
        "array_weights": traffic.array["weights"],
        "array_windows": traffic.array["windows"],
        "array_outputs": traffic.array["outputs"],
        "glb": sum(traffic.glb.values()),
        "dram": sum(traffic.dram.values()),
        "static": total_cycles * cfg.rows * cfg.cols,
    }


def price(table: EnergyTable, cfg: ArrayConfig, actions: dict[str, float]) -> dict[str, Any]:
    """Energy in pJ per action and per level (compute, array, glb, dram, static)."""
    by_action = {a: actions[a] * _PRICE[a](table, cfg) for a in ACTIONS}
    by_level = {level: sum(by_action[a] for a in acts) for level, acts in _LEVELS.items()}
    return {"total": sum(by_action.values()), "by_action": by_action, "by_level": by_level}


def energy_breakdown(
    table: EnergyTable,
    cfg: ArrayConfig,
    counters: Counters,
    traffic: Traffic,
    total_cycles: int,
) -> dict[str, Any]:
    """Energy in pJ per action and per level (compute, array, glb, dram, static)."""
    return price(table, cfg, action_counts(cfg, counters, traffic, total_cycles))
