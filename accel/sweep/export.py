"""A store as one table for pandas users: CSV or Parquet, one line per stored point at
each clock, energy table and FPGA target the sweep applies."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..errors import AccelError
from ..outputs import CSV_MARK, PARQUET_MARK, replacing
from .derive import flat, priced

__all__ = ["FORMATS", "export"]


def _csv(records: list[dict[str, Any]], path: Path) -> None:
    columns = _columns(records)
    assert ",".join(columns[:2]).encode() + b"," == CSV_MARK
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    with replacing(path, what="the table") as (temp,):
        temp.write_text(text.getvalue(), encoding="utf-8")


def _parquet(records: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(records)
    table = pa.table({c: [r.get(c) for r in records] for c in columns})
    table = table.replace_schema_metadata({PARQUET_MARK[0]: PARQUET_MARK[1]})
    with replacing(path, what="the table") as (temp,):
        pq.write_table(table, temp)


FORMATS = {".csv": _csv, ".parquet": _parquet}


def _columns(records: list[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {"workload": None, "design_key": None}
    for r in records:
        columns.update(dict.fromkeys(r))
    return list(columns)


def export(rows: list[dict[str, Any]], meta: dict[str, Any], path: str | Path) -> int:
    """Write ``rows`` priced at the store's clocks, tables and targets; the line count."""
    path = Path(path)
    writer = FORMATS.get(path.suffix.lower())
    if writer is None:
        raise AccelError(f"--export {path}: give a .csv or .parquet file name")
    if not rows:
        raise AccelError(f"--export {path}: the store holds no point of this simulator yet")
    records = [flat(e) for e in priced(rows, meta["clocks"], meta["energy"], meta["fpga"])]
    writer(records, path)
    return len(records)
