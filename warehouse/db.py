"""The DuckDB warehouse file and its bookkeeping schemas.

DuckDB allows one writing process per file, and within this process every write goes through
:meth:`Warehouse.write`, which holds a lock, so concurrent tasks never interleave their writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

_WRITE_LOCK = threading.RLock()

BOOKKEEPING_DDL = """
create schema if not exists raw;
create schema if not exists audit;
create schema if not exists quarantine;
create table if not exists audit.batches (
    dataset varchar not null,
    batch_id varchar primary key,
    url varchar not null,
    raw_path varchar not null,
    sha256 varchar not null,
    bytes bigint not null,
    received_at timestamptz not null,
    loaded_at timestamptz not null,
    status varchar not null,          -- loaded | unchanged | stale | rejected
    source_version varchar,
    rows_received bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    detail varchar,
    run_id varchar,
    rows_changed bigint,              -- of rows_loaded, new or different from what was stored
    check (rows_received = rows_loaded + rows_quarantined)
);
alter table audit.batches add column if not exists rows_changed bigint;
create table if not exists audit.batch_tables (
    batch_id varchar not null,
    table_name varchar not null,
    rows_loaded bigint not null,      -- the batch's rows of the table, stored changed or not
    primary key (batch_id, table_name)
);
create table if not exists audit.runs (
    run_id varchar primary key,
    root_run_id varchar not null,     -- the outermost flow run (programme_daily) it belongs to
    flow_name varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,          -- running | completed | failed
    datasets varchar[],
    batches bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    error varchar,
    as_of date                        -- the day the run took as today (SMARTCITY_TODAY pins it)
);
alter table audit.runs add column if not exists as_of date;
create table if not exists audit.watermarks (
    dataset varchar primary key,
    value varchar not null,
    batch_id varchar not null,
    updated_at timestamptz not null
);
create table if not exists audit.validations (
    run_id varchar,
    dataset varchar not null,
    batch_id varchar not null,
    table_name varchar not null,
    expectation varchar not null,
    severity varchar not null,        -- critical | warning
    success boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    validated_at timestamptz not null
);
create table if not exists quarantine.rows (
    dataset varchar not null,
    table_name varchar,
    batch_id varchar not null,
    row_number bigint not null,
    payload varchar,
    reason varchar not null,
    quarantined_at timestamptz not null,
    run_id varchar
);
"""


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse file."""


class Warehouse:
    """The data directory: ``raw/`` landing zone and ``warehouse.duckdb``."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / "warehouse.duckdb"
        self.raw_dir = self.data_dir / "raw"
        self._ready = False

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for writing, held under the process-wide write lock."""
        with _WRITE_LOCK:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            con = self._connect()
            try:
                if not self._ready:
                    con.execute(BOOKKEEPING_DDL)
                    self._ready = True
                yield con
            finally:
                con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for reading; the warehouse must exist.

        Opened read-write all the same: DuckDB refuses a second connection to a file with another
        configuration within one process, and writers here keep their connections open.
        """
        if not self.path.exists():
            raise FileNotFoundError(
                f"no warehouse at {self.path}: run `smartcity run` (or `smartcity demo`) first"
            )
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.path))
        except duckdb.IOException as error:
            raise WarehouseLockedError(
                f"cannot open {self.path}: another process is using it ({error})"
            ) from None
