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

Between parse and load, the dataset's checks run on the batch (see ``warehouse.validation`` for
what a failed check does); every outcome is kept in ``audit.validations``.
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

from connectors.base import ROW, Parsed, ParseError, Reject, Table, as_payload
from warehouse.db import Warehouse
from warehouse.landing import LandedBatch, read_landed
from warehouse.validation import (
    Checks,
    Outcome,
    Validate,
    batch_failure,
    describe,
    rows_to_set_aside,
)

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}

VALIDATIONS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("dataset", pa.string()),
        ("batch_id", pa.string()),
        ("table_name", pa.string()),
        ("expectation", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("observed_value", pa.string()),
        ("unexpected_count", pa.int64()),
        ("validated_at", pa.timestamp("us", tz="UTC")),
    ]
)

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
    rows_changed: int = 0  # of rows_loaded, new or different from the stored row (others untouched)


def load_batch(
    warehouse: Warehouse,
    connector: ModuleType,
    landed: LandedBatch,
    run_id: str | None,
    validate: Validate | None = None,
    fresh_after: datetime | None = None,
) -> BatchResult:
    """Parse the landed bytes, check them, and load them; see the module docstring for the rules.

    ``validate`` runs the dataset's checks on each table of the batch (between parse and load);
    ``fresh_after`` is passed to them when this batch should prove the dataset is fresh.
    """
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
    with warehouse.write() as con:
        previous = con.execute(
            "select batch_id, source_version from audit.batches "
            "where dataset = ? and status = 'loaded' and (url = ? or ?) "
            "order by loaded_at desc limit 1",
            [landed.dataset, landed.url, snapshot],
        ).fetchone()
        if previous and previous[1] == version:
            status = "stale" if parsed.version else "unchanged"
            what = f"header timestamp {version}" if parsed.version else "same content"
            with _transaction(con):
                return _record(
                    con, landed, run_id, status, Parsed(), f"{what} as batch {previous[0]}", version
                )
        previous_rows = _rows_of_batch(con, previous[0]) if previous and validate else {}

    outcomes: list[Outcome] = []
    if validate is not None:
        checks = Checks(landed.batch_id, run_id, fresh_after, previous_rows)
        for table in connector.TABLES:
            rows = parsed.rows.get(table.name, [])
            missing = parsed.missing.get(table.name, set())
            if rows or missing:  # an empty table (e.g. no vehicles in an archive) has no checks
                outcomes += validate(table, rows, missing, checks)
    failure = batch_failure(outcomes)
    if failure:
        _set_aside(parsed, {key: [describe(failure)] for key in _positions(parsed)})
    else:
        _set_aside(parsed, rows_to_set_aside(outcomes))

    with warehouse.write() as con, _transaction(con):
        _record_outcomes(con, landed, run_id, outcomes)
        if failure:
            return _record(con, landed, run_id, "rejected", parsed, describe(failure), version)
        changed = 0
        for table in connector.TABLES:
            ensure_table(con, table)
            if snapshot:
                con.execute(f"delete from raw.{table.name}")
            rows = parsed.rows.get(table.name, [])
            changed += upsert(con, table, rows, landed.batch_id)
            con.execute(
                "insert into audit.batch_tables values (?, ?, ?)",
                [landed.batch_id, table.name, len(rows)],
            )
        return _record(con, landed, run_id, "loaded", parsed, None, version, changed)


def _rows_of_batch(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, int]:
    """Per table, how many rows ``batch_id`` loaded (for row-count checks), whether they changed
    what was stored or not; none for a batch loaded before the ledger kept them."""
    return dict(
        con.execute(
            "select table_name, rows_loaded from audit.batch_tables where batch_id = ?",
            [batch_id],
        ).fetchall()
    )


def _positions(parsed: Parsed) -> list[tuple[str, int]]:
    return [(table, row[ROW]) for table, rows in parsed.rows.items() for row in rows]


def _set_aside(parsed: Parsed, reasons: dict[tuple[str, int], list[str]]) -> None:
    """Move the rows named in ``reasons`` from ``parsed.rows`` to ``parsed.rejects``."""
    if not reasons:
        return
    for table, rows in parsed.rows.items():
        kept = []
        for row in rows:
            why = reasons.get((table, row[ROW]))
            if why is None:
                kept.append(row)
                continue
            payload = as_payload({k: v for k, v in row.items() if k != ROW})
            parsed.rejects.append(Reject(table, row[ROW], payload, "; ".join(why)))
        parsed.rows[table] = kept


def _record_outcomes(
    con: duckdb.DuckDBPyConnection, landed: LandedBatch, run_id: str | None, outcomes: list[Outcome]
) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "dataset": landed.dataset,
            "batch_id": landed.batch_id,
            "table_name": o.table,
            "expectation": o.expectation,
            "severity": o.severity,
            "success": o.success,
            "observed_value": o.observed,
            "unexpected_count": o.unexpected_count,
            "validated_at": now,
        }
        for o in outcomes
    ]
    _append(con, "audit.validations", rows, VALIDATIONS_SCHEMA)


def _append(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], schema: pa.Schema
) -> None:
    """Insert ``rows`` (dicts of ``schema``'s columns) into ``table``, by column name."""
    if not rows:
        return
    con.register("appended", pa.Table.from_pylist(rows, schema=schema))
    try:
        con.execute(f"insert into {table} by name select * from appended")
    finally:
        con.unregister("appended")


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
            if name in table.filled_by:
                con.execute(f'update raw.{table.name} set "{name}" = {table.filled_by[name]}')


def upsert(
    con: duckdb.DuckDBPyConnection, table: Table, rows: list[dict[str, Any]], batch_id: str
) -> int:
    """Merge on the natural key: a row whose values changed replaces the stored one, a new key
    is inserted, and a row already stored as it is stays untouched, lineage included (so a
    rerun or a backfill of data already loaded changes no row). Within a batch the last row of a
    key wins. Returns how many rows were inserted or replaced."""
    if not rows:
        return 0
    latest = {tuple(row[k] for k in table.key): row for row in rows}
    schema = pa.schema([(name, ARROW_TYPES[type_]) for name, type_ in table.columns.items()])
    con.register("batch_rows", pa.Table.from_pylist(list(latest.values()), schema=schema))
    target = f"raw.{table.name}"
    names = ", ".join(f'"{name}"' for name in table.columns)
    same_key = " and ".join(f't."{k}" = c."{k}"' for k in table.key)
    same_row = " and ".join(f't."{c}" is not distinct from b."{c}"' for c in table.columns)
    try:
        con.execute(
            f"create or replace temp table changed_rows as select * from batch_rows b "
            f"where not exists (select 1 from {target} t where {same_row})"
        )
        con.execute(f"delete from {target} t using changed_rows c where {same_key}")
        con.execute(
            f"insert into {target} ({names}, _batch_id, _loaded_at) "
            f"select {names}, ?, now() from changed_rows",
            [batch_id],
        )
        return con.execute("select count(*) from changed_rows").fetchone()[0]
    finally:
        con.execute("drop table if exists changed_rows")
        con.unregister("batch_rows")


def _record(
    con: duckdb.DuckDBPyConnection,
    landed: LandedBatch,
    run_id: str | None,
    status: str,
    parsed: Parsed,
    detail: str | None,
    version: str | None = None,
    changed: int = 0,
) -> BatchResult:
    loaded = sum(len(rows) for rows in parsed.rows.values())
    quarantined = len(parsed.rejects)
    now = datetime.now(UTC)
    _append(
        con,
        "quarantine.rows",
        [
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
        ],
        QUARANTINE_SCHEMA,
    )
    con.execute(
        "insert into audit.batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            changed,
        ],
    )
    return BatchResult(
        landed.dataset,
        landed.batch_id,
        status,
        loaded + quarantined,
        loaded,
        quarantined,
        detail,
        changed,
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
