"""Load one landed batch into DuckDB: upsert typed rows into ``raw``, rejects into ``quarantine``.

Everything a batch writes (raw rows, quarantine rows, its ``audit.batches`` row) commits in one
transaction, so a batch is either wholly in the warehouse or not at all, and for every batch
``rows_received = rows_loaded + rows_quarantined``. A response that cannot be parsed at all counts
as one received, quarantined document (row 0, reason = the parse error); its bytes stay in the
landing zone.

A response whose content (sha256, or the version the source declares, such as the GTFS-RT header
timestamp) is that of the last batch loaded from the same URL is recorded as ``unchanged`` or
``stale`` and not loaded again. A connector marked ``SNAPSHOT`` (each response is the whole
dataset) has its tables' contents replaced by each loaded batch rather than merged, and is
compared with the last batch loaded from any URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa

from connectors.base import Parsed, ParseError, Reject, Table
from warehouse.db import Warehouse
from warehouse.landing import LandedBatch, read_landed

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}

QUARANTINE_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("table_name", pa.string()),
        ("batch_id", pa.string()),
        ("row_number", pa.int64()),
        ("payload", pa.string()),
        ("reason", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class BatchResult:
    dataset: str
    batch_id: str
    status: str
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    detail: str | None = None


def load_batch(
    warehouse: Warehouse, connector: ModuleType, landed: LandedBatch, run_id: str | None
) -> BatchResult:
    """Parse the landed bytes and load them; see the module docstring for the rules."""
    content = read_landed(warehouse.raw_dir, landed)
    try:
        parsed = connector.parse(content)
    except ParseError as error:
        reject = Reject(
            table="",
            row_number=0,
            payload=f"<{landed.bytes} bytes, kept at raw/{landed.path}>",
            reason=f"unparseable response: {error}",
        )
        with warehouse.write() as con, _transaction(con):
            return _record(con, landed, run_id, "rejected", Parsed(rejects=[reject]), str(error))

    version = parsed.version or landed.sha256
    snapshot = getattr(connector, "SNAPSHOT", False)
    with warehouse.write() as con, _transaction(con):
        previous = con.execute(
            "select batch_id, source_version from audit.batches "
            "where dataset = ? and status = 'loaded' and (url = ? or ?) "
            "order by loaded_at desc limit 1",
            [landed.dataset, landed.url, snapshot],
        ).fetchone()
        if previous and previous[1] == version:
            status = "stale" if parsed.version else "unchanged"
            what = f"header timestamp {version}" if parsed.version else "same content"
            detail = f"{what} as batch {previous[0]}"
            return _record(con, landed, run_id, status, Parsed(), detail, version)
        for table in connector.TABLES:
            ensure_table(con, table)
            if snapshot:
                con.execute(f"delete from raw.{table.name}")
            upsert(con, table, parsed.rows.get(table.name, []), landed.batch_id)
        return _record(con, landed, run_id, "loaded", parsed, None, version)


def ensure_table(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the raw table, or add columns a newer connector version declares."""
    columns = ", ".join(f'"{name}" {type_}' for name, type_ in table.columns.items())
    con.execute(
        f"create table if not exists raw.{table.name} "
        f"({columns}, _batch_id varchar not null, _loaded_at timestamptz not null)"
    )
    existing = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ?",
            [table.name],
        ).fetchall()
    }
    for name, type_ in table.columns.items():
        if name not in existing:
            con.execute(f'alter table raw.{table.name} add column "{name}" {type_}')


def upsert(
    con: duckdb.DuckDBPyConnection, table: Table, rows: list[dict[str, Any]], batch_id: str
) -> None:
    """Replace rows with the same natural key, then insert; within a batch the last row wins."""
    if not rows:
        return
    latest = {tuple(row[k] for k in table.key): row for row in rows}
    schema = pa.schema([(name, ARROW_TYPES[type_]) for name, type_ in table.columns.items()])
    batch = pa.Table.from_pylist(list(latest.values()), schema=schema)
    con.register("batch_rows", batch)
    try:
        matches = " and ".join(f't."{k}" = b."{k}"' for k in table.key)
        con.execute(f"delete from raw.{table.name} t using batch_rows b where {matches}")
        names = ", ".join(f'"{name}"' for name in table.columns)
        con.execute(
            f"insert into raw.{table.name} ({names}, _batch_id, _loaded_at) "
            f"select {names}, ?, now() from batch_rows",
            [batch_id],
        )
    finally:
        con.unregister("batch_rows")


def _record(
    con: duckdb.DuckDBPyConnection,
    landed: LandedBatch,
    run_id: str | None,
    status: str,
    parsed: Parsed,
    detail: str | None,
    version: str | None = None,
) -> BatchResult:
    loaded = sum(len(rows) for rows in parsed.rows.values())
    quarantined = len(parsed.rejects)
    now = datetime.now(UTC)
    if parsed.rejects:
        rows = [
            {
                "dataset": landed.dataset,
                "table_name": reject.table or None,
                "batch_id": landed.batch_id,
                "row_number": reject.row_number,
                "payload": reject.payload,
                "reason": reject.reason,
                "quarantined_at": now,
                "run_id": run_id,
            }
            for reject in parsed.rejects
        ]
        con.register("rejects", pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA))
        try:
            con.execute("insert into quarantine.rows select * from rejects")
        finally:
            con.unregister("rejects")
    con.execute(
        "insert into audit.batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            landed.dataset,
            landed.batch_id,
            landed.url,
            f"raw/{landed.path}",
            landed.sha256,
            landed.bytes,
            landed.received_at,
            now,
            status,
            version,
            loaded + quarantined,
            loaded,
            quarantined,
            detail,
            run_id,
        ],
    )
    return BatchResult(
        landed.dataset, landed.batch_id, status, loaded + quarantined, loaded, quarantined, detail
    )


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()
