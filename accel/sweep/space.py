"""A design space: the TOML file a sweep or a search enumerates.

``[array]`` and ``[system]`` take the keys of a config file, each a value, a list of
values or an integer range ``{ min = 4, max = 64, step = 4 }`` (``scale = "log2"``:
the powers of two in it). ``[sweep]`` takes ``balance`` (the row-balancing passes),
``energy`` (energy tables: ``"default"`` or a TOML path) and ``fpga`` (area targets).

What needs a simulation (the array, the memory system, balancing) makes the points;
what only prices a simulated point (``clock_mhz``, the energy table, the FPGA target)
is applied afterwards: a sweep that adds a clock or a table simulates nothing again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..balance import BALANCE_METHODS, DEFAULT_BALANCE
from ..config import ArrayConfig, Config, SystemConfig
from ..errors import AccelError, brief
from ..tomlfile import read_toml

__all__ = ["Design", "Space", "load_space", "POST_KEYS"]

POST_KEYS = ("clock_mhz",)
"""``[system]`` keys that do not change a simulation: applied after it."""

_SWEEP_KEYS = {"balance", "energy", "fpga"}
_ARRAY_KEYS = [f.name for f in dataclasses.fields(ArrayConfig)]
_SYSTEM_KEYS = [f.name for f in dataclasses.fields(SystemConfig)]
MAX_POINTS = 10_000_000
"""The most points a space may list (a sweep stores one row per point and workload)."""


@dataclass(frozen=True)
class Design:
    """One simulated point: the config (its clock aside) and the balancing pass."""

    config: Config
    balance: str = DEFAULT_BALANCE

    def params(self) -> dict[str, Any]:
        """Canonical parameters: every simulated field, the post-applied ones left out."""
        system = {k: v for k, v in dataclasses.asdict(self.config.system).items()
                  if k not in POST_KEYS}  # fmt: skip
        return {"array": dataclasses.asdict(self.config.array), "system": system,
                "balance": self.balance}  # fmt: skip

    @property
    def key(self) -> str:
        return digest(self.params())


def digest(value: Any) -> str:
    """A stable hash of JSON-able ``value`` (keys sorted, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _values(where: str, value: Any) -> list[Any]:
    """A key's values: one, a list, or an integer range table."""
    if isinstance(value, list):
        if not value:
            raise AccelError(f"{where} lists no value")
        return value
    if not isinstance(value, Mapping):
        return [value]
    unknown = set(value) - {"min", "max", "step", "scale"}
    if unknown:
        raise AccelError(f"{where}: unknown range key {brief(sorted(unknown)[0])} "
                         "(known: min, max, step, scale)")  # fmt: skip
    lo, hi = value.get("min"), value.get("max")
    for name, v in (("min", lo), ("max", hi), ("step", value.get("step", 1))):
        if isinstance(v, bool) or not isinstance(v, int):
            raise AccelError(f"{where}.{name} must be an integer, not {brief(v)}")
    assert isinstance(lo, int) and isinstance(hi, int)
    if hi < lo:
        raise AccelError(f"{where}: max ({hi}) is below min ({lo})")
    scale = value.get("scale", "linear")
    if scale == "log2":
        if lo < 1:
            raise AccelError(f"{where}: a log2 range needs min >= 1, not {lo}")
        out = [1 << e for e in range(math.ceil(math.log2(lo)), int(math.log2(hi)) + 1)]
        out = [v for v in out if lo <= v <= hi]
        if not out:
            raise AccelError(f"{where}: no power of two in {lo}..{hi}")
        return out
    if scale != "linear":
        raise AccelError(f"{where}.scale must be 'linear' or 'log2', not {brief(scale)}")
    step = value.get("step", 1)
    if step < 1:
        raise AccelError(f"{where}.step must be at least 1, not {step}")
    if (hi - lo) // step + 1 > MAX_POINTS:
        raise AccelError(f"{where}: more than {MAX_POINTS:,} values")
    return list(range(lo, hi + 1, step))


@dataclass(frozen=True)
class Space:
    """The axes of a design space and what is applied after simulating."""

    axes: dict[str, list[Any]]  # "array.rows" -> values; "sweep.balance" -> passes
    clocks: list[float]
    energy: list[str]  # "default" or paths
    fpga: list[str]
    source: str = "<space>"

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.axes.values())

    def design(self, choice: Mapping[str, Any]) -> Design:
        """The design of one value per axis (``choice``: axis -> value); bad combinations
        (lanes above block, result_rows not dividing rows) raise ``AccelError``."""
        tables: dict[str, dict[str, Any]] = {"array": {}, "system": {}}
        balance = DEFAULT_BALANCE
        for axis, value in choice.items():
            table, key = axis.split(".", 1)
            if table == "sweep":
                balance = value
            else:
                tables[table][key] = value
        config = Config(ArrayConfig(**tables["array"]), SystemConfig(**tables["system"]))
        return Design(config, balance)

    def designs(self) -> Iterator[Design | AccelError]:
        """Every point, in a fixed order; an invalid combination as its error."""
        names = list(self.axes)
        for values in itertools.product(*self.axes.values()):
            try:
                yield self.design(dict(zip(names, values, strict=True)))
            except AccelError as err:
                yield err


def load_space(path: str | Path, max_points: int | None = MAX_POINTS) -> Space:
    """Read and check a space file: every value is checked the way a config checks it,
    so an error names the file, the key and the value. A sweep enumerates at most
    ``max_points``; a search (``None``) only samples, so any size is fine."""
    source = str(path)
    data = read_toml(path, "design space")
    try:
        return _parse(data, source, max_points)
    except AccelError as err:
        if err.source:
            raise
        raise AccelError(err.message, source=source, field=err.field) from None


def _parse(data: Mapping[str, Any], source: str, max_points: int | None) -> Space:
    known = {"array": _ARRAY_KEYS, "system": _SYSTEM_KEYS, "sweep": sorted(_SWEEP_KEYS)}
    for table, values in data.items():
        if table not in known:
            raise AccelError(f"unknown table [{table}] (known: [array], [system], [sweep])")
        if not isinstance(values, Mapping):
            raise AccelError(f"{table} must be a table, not {brief(values)}")
        for key in values:
            if key not in known[table]:
                raise AccelError(f"[{table}] unknown key {brief(key)} "
                                 f"(known: {', '.join(known[table])})")  # fmt: skip
    axes: dict[str, list[Any]] = {}
    clocks = [SystemConfig().clock_mhz]
    for table in ("array", "system"):
        for key, value in data.get(table, {}).items():
            values = _values(f"[{table}] {key}", value)
            for v in values:  # each value alone must be valid (combinations are checked later)
                _check_value(table, key, v)
            if len(set(map(repr, values))) != len(values):
                raise AccelError(f"[{table}] {key} lists a value twice: {brief(values)}")
            if key in POST_KEYS:
                clocks = [float(v) for v in values]
            else:
                axes[f"{table}.{key}"] = values
    sweep = data.get("sweep", {})
    balance = _values("[sweep] balance", sweep.get("balance", DEFAULT_BALANCE))
    for b in balance:
        if b not in BALANCE_METHODS:
            raise AccelError(f"[sweep] balance must be one of {', '.join(BALANCE_METHODS)}, "
                             f"not {brief(b)}")  # fmt: skip
    axes["sweep.balance"] = balance
    energy = [str(e) for e in _values("[sweep] energy", sweep.get("energy", "default"))]
    fpga = [str(t) for t in _values("[sweep] fpga", sweep.get("fpga", "ecp5-85k"))]
    _check_post(energy, fpga, source)
    space = Space(axes, clocks, energy, fpga, source)
    if max_points is not None and space.size > max_points:
        raise AccelError(f"the space has {space.size:,} points, more than a sweep's "
                         f"{max_points:,}; `accel search` samples it")  # fmt: skip
    return space


def _partners(key: str, value: Any) -> dict[str, Any]:
    """Values of the keys that bound ``key``, set so that only ``value`` itself is judged."""
    plain = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 256
    return {
        "lanes": {"block": 64},
        "w_bits": {"acc_bits": 64},
        "a_bits": {"acc_bits": 64},
        "acc_bits": {"w_bits": 2, "a_bits": 2},
        "weight_bus_bits": {"weight_lanes": 1},
        "weight_lanes": {"weight_bus_bits": 8 * value} if plain else {},
        "result_rows": {"rows": value} if plain else {},
    }.get(key, {})


def _check_value(table: str, key: str, value: Any) -> None:
    """One value on its own: the config's own check names it. Keys bounded by another
    (lanes <= block, result_rows dividing rows) are checked again per combination."""
    try:
        if table == "array":
            ArrayConfig(**{**_partners(key, value), key: value})
        else:
            SystemConfig(**{key: value})
    except AccelError as err:
        raise AccelError(f"[{table}] {err.message}", field=key) from None


def _check_post(energy: list[str], fpga: list[str], source: str) -> None:
    from ..fpga.targets import TARGETS

    for target in fpga:
        if target not in TARGETS or TARGETS[target].family != "ecp5":
            ecp5 = [n for n, t in TARGETS.items() if t.family == "ecp5"]
            raise AccelError(f"[sweep] fpga: the area model is fitted for ECP5 only "
                             f"({', '.join(ecp5)}), not {brief(target)}")  # fmt: skip
    base = Path(source).parent
    for i, e in enumerate(energy):
        if e != "default":
            path = Path(e) if Path(e).is_absolute() else base / e
            if not path.is_file():
                raise AccelError(f"[sweep] energy: no such file {brief(e)} "
                                 f"(looked for {path})")  # fmt: skip
            energy[i] = str(path)
