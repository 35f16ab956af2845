"""How much validating a batch costs: the GX gate against the same checks as plain DuckDB SQL.

Takes a real batch (a year of LoRaWAN uplinks from the bundled sensors emulator, and a
single page of it), runs the reviewed suite ``city_sensor_uplinks`` through the gate the flows
use, then runs the same checks written as plain SQL on the same rows in DuckDB, both from typed
rows to the positions of the failing rows. Prints the best of several repetitions.

    .venv/bin/python benchmarks/validation.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors import city_sensors
from connectors.base import ROW, Source
from connectors.http import make_client
from emulators.registry import build
from emulators.synthetic import Clock
from expectations.gate import PROJECT, Gate
from warehouse.loader import ARROW_TYPES
from warehouse.validation import Checks

TABLE = city_sensors.UPLINKS
SUITE = json.loads((PROJECT / "expectations" / f"{TABLE.name}.json").read_text(encoding="utf-8"))


def year_of_uplinks() -> list[dict[str, Any]]:
    emulator = build("sensors", Clock.now(365)).start()
    try:
        source = Source(dataset=city_sensors.DATASET, url=emulator.url, page_size=5000)
        rows: list[dict[str, Any]] = []
        with make_client(source) as client:
            for page in city_sensors.extract(client, source, None):
                rows += city_sensors.parse(page.content).rows[TABLE.name]
    finally:
        emulator.stop()
    for position, row in enumerate(rows, 1):
        row[ROW] = position
    return rows


def plain_sql_checks(rows: list[dict[str, Any]], fresh_after: datetime) -> dict[str, list[int]]:
    """The suite's checks as hand-written DuckDB SQL: failing row positions per check."""
    schema = pa.schema(
        [(ROW, pa.int64())] + [(n, ARROW_TYPES[t]) for n, t in TABLE.columns.items()]
    )
    con = duckdb.connect()
    con.register("staged", pa.Table.from_pylist(rows, schema=schema))
    con.execute(f"create table {TABLE.name} as select * from staged")
    columns = {
        c for (c,) in con.execute(f"select column_name from (describe {TABLE.name})").fetchall()
    }
    failures: dict[str, list[int]] = {}
    for expectation in SUITE["expectations"]:
        kind, kwargs = expectation["type"], expectation["kwargs"]
        name = f"{kind}({kwargs.get('column', '')})"
        sql = _as_sql(kind, kwargs, fresh_after)
        if sql is None:
            failures[name] = [] if kwargs.get("column") in columns else [-1]
            continue
        failures[name] = [r for (r,) in con.execute(sql).fetchall()]
    return failures


def _as_sql(kind: str, kwargs: dict[str, Any], fresh_after: datetime) -> str | None:
    table, column = TABLE.name, f'"{kwargs.get("column")}"'
    if kind == "expect_column_to_exist":
        return None
    if kind == "expect_column_values_to_not_be_null":
        return f"select {ROW} from {table} where {column} is null"
    if kind == "expect_column_values_to_be_unique":
        return f"select {ROW} from {table} qualify count(*) over (partition by {column}) > 1"
    if kind == "expect_column_values_to_be_in_set":
        values = ", ".join(repr(v) for v in kwargs["value_set"])
        return f"select {ROW} from {table} where {column} not in ({values})"
    if kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bounds = [
            f"{column} < {low}" if low is not None else "",
            f"{column} > {high}" if high is not None else "",
        ]
        return f"select {ROW} from {table} where {' or '.join(b for b in bounds if b)}"
    if kind == "unexpected_rows_expectation":
        return kwargs["unexpected_rows_query"].replace("{batch}", table)
    if kind == "expect_table_row_count_to_be_between":
        return f"select -1 from {table} having count(*) < 0"
    if kind == "expect_column_max_to_be_between":
        return f"select -1 from {table} having max({column}) < '{fresh_after.isoformat()}'"
    raise ValueError(f"no SQL form for {kind}")


def best_of(repeat: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("fetching a year of uplinks from the sensors emulator ...", flush=True)
    year = year_of_uplinks()
    fresh_after = datetime.now(UTC) - timedelta(hours=30)
    with tempfile.TemporaryDirectory() as output:
        started = time.perf_counter()
        gate = Gate(Path(output))
        print(f"gate start-up (import GX, load context): {time.perf_counter() - started:.2f} s")
        print(f"{'batch':>20} {'rows':>7} {'GX gate':>9} {'plain SQL':>10} {'ratio':>6}")
        checks = Checks("benchmark", None, fresh_after, {})
        for label, rows in (("one page", year[:5000]), ("a year in one batch", year)):
            gx_seconds = best_of(args.repeat, lambda rows=rows: gate(TABLE, rows, set(), checks))
            sql_seconds = best_of(
                args.repeat, lambda rows=rows: plain_sql_checks(rows, fresh_after)
            )
            print(
                f"{label:>20} {len(rows):>7,} {gx_seconds:>8.3f}s {sql_seconds:>9.3f}s "
                f"{gx_seconds / sql_seconds:>5.1f}x"
            )
        print(f"{len(SUITE['expectations'])} expectations per batch")


if __name__ == "__main__":
    main()
