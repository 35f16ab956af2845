"""The run ledger, the per-dataset watermarks, and the status a steward reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from warehouse.db import Warehouse


def start_run(warehouse: Warehouse, run_id: str, flow_name: str, datasets: list[str]) -> None:
    with warehouse.write() as con:
        con.execute(
            "insert or replace into audit.runs (run_id, flow_name, started_at, status, datasets) "
            "values (?, ?, ?, 'running', ?)",
            [run_id, flow_name, datetime.now(UTC), datasets],
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
    last_change_at: datetime | None
    batches: int
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    lag_hours: float

    @property
    def freshness(self) -> str:
        """``fresh``, ``stale`` (no new content for longer than the lag) or ``never``."""
        if self.last_change_at is None:
            return "never"
        age = datetime.now(UTC) - self.last_change_at
        return "fresh" if age <= timedelta(hours=self.lag_hours) else "stale"


def dataset_status(warehouse: Warehouse, lags: dict[str, float]) -> list[DatasetStatus]:
    """Per configured dataset: batches and row totals, and when it last brought new rows."""
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
        statuses.append(
            DatasetStatus(dataset, last, changed, batches, received, loaded, quarantined, lag)
        )
    return statuses
