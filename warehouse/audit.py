"""The run ledger, the per-dataset watermarks, and the status a steward reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb

from connectors import clock
from connectors.base import BANGKOK
from warehouse.db import Warehouse


def start_run(
    warehouse: Warehouse, run_id: str, root_run_id: str, flow_name: str, datasets: list[str]
) -> None:
    with warehouse.write() as con:
        con.execute(
            "insert or replace into audit.runs "
            "(run_id, root_run_id, flow_name, started_at, status, datasets, as_of) "
            "values (?, ?, ?, ?, 'running', ?, ?)",
            [run_id, root_run_id, flow_name, datetime.now(UTC), datasets, clock.today()],
        )


def finish_run(warehouse: Warehouse, run_id: str, error: str | None = None) -> None:
    """Close the run's ledger row with its totals, taken from the batches it recorded."""
    with warehouse.write() as con:
        con.execute(
            """
            update audit.runs set
                finished_at = ?,
                status = ?,
                error = ?,
                batches = totals.batches,
                rows_loaded = totals.rows_loaded,
                rows_quarantined = totals.rows_quarantined
            from (
                select count(*) as batches,
                       coalesce(sum(rows_loaded), 0) as rows_loaded,
                       coalesce(sum(rows_quarantined), 0) as rows_quarantined
                from audit.batches where run_id = ?
            ) as totals
            where run_id = ?
            """,
            [datetime.now(UTC), "failed" if error else "completed", error, run_id, run_id],
        )


def get_watermark(warehouse: Warehouse, dataset: str) -> str | None:
    with warehouse.write() as con:
        row = con.execute(
            "select value from audit.watermarks where dataset = ?", [dataset]
        ).fetchone()
    return row[0] if row else None


def set_watermark(warehouse: Warehouse, dataset: str, value: str, batch_id: str) -> None:
    with warehouse.write() as con:
        con.execute(
            "insert or replace into audit.watermarks values (?, ?, ?, ?)",
            [dataset, value, batch_id, datetime.now(UTC)],
        )


@dataclass(frozen=True)
class DatasetStatus:
    dataset: str
    last_batch_at: datetime | None
    newest_at: datetime | None  # the newest record's time, or the last batch that added rows
    batches: int
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    lag_hours: float
    newest_is_batch: bool = False  # newest_at is a batch's receipt, not a record's time

    @property
    def freshness(self) -> str:
        """``fresh``, ``stale`` (nothing newer than the allowed lag) or ``never`` (no data).

        A record's time is judged on the pipeline's clock, a batch's receipt on the wall clock.
        """
        if self.newest_at is None:
            return "never"
        now = clock.now() - clock.offset() if self.newest_is_batch else clock.now()
        age = now - self.newest_at
        return "fresh" if age <= timedelta(hours=self.lag_hours) else "stale"


def dataset_status(
    warehouse: Warehouse,
    lags: Mapping[str, float],
    newest_columns: Mapping[str, tuple[str, str] | None],
) -> list[DatasetStatus]:
    """Per configured dataset: batches, row totals, and how new its newest data is.

    ``newest_columns`` names, per dataset, the raw (table, column) holding each record's event
    time or date; a date counts until the end of that day in Bangkok. A dataset without one
    (e.g. yearly population) is as new as the last batch that added rows.
    """
    with warehouse.read() as con:
        rows = con.execute(
            """
            select dataset,
                   max(received_at),
                   max(received_at) filter (where status = 'loaded' and rows_loaded > 0),
                   count(*),
                   sum(rows_received), sum(rows_loaded), sum(rows_quarantined)
            from audit.batches group by dataset
            """
        ).fetchall()
        found = {row[0]: row for row in rows}
        statuses = []
        for dataset, lag in lags.items():
            _, last, changed, batches, received, loaded, quarantined = found.get(
                dataset, (dataset, None, None, 0, 0, 0, 0)
            )
            column = newest_columns.get(dataset)
            newest = _newest(con, *column) if column and changed else changed
            counts = (batches, received, loaded, quarantined)
            statuses.append(
                DatasetStatus(dataset, last, newest, *counts, lag, newest_is_batch=not column)
            )
    return statuses


def _newest(con: duckdb.DuckDBPyConnection, table: str, column: str) -> datetime | None:
    value = con.execute(f'select max("{column}") from raw.{table}').fetchone()[0]
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(), BANGKOK)
    return None
