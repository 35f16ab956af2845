"""``backfill``: re-read a date range of one dataset and load it again, leaving its watermark.

What a range means is the connector's business (its ``backfill`` hook, see
:func:`warehouse.ingest.backfill_hook`): Open311 date windows, the ticketing API's
``from``/``to``, whole GTFS-RT archive months, FHIR ``_lastUpdated`` and the sensor relay's
``after=`` from the first day on, the whole CKAN table (the portal cannot be asked for dates).
Snapshots (the GTFS zip, the research CSV) are refused. Loads merge on the key and leave rows
that arrive unchanged untouched, so a backfill over days already loaded changes no row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.logging.handlers import PrefectConsoleHandler
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.theme import Theme

from connectors.registry import connector_for
from flows.config import Settings
from flows.ingest import DatasetSummary, batch_line, gate_for
from flows.runs import flow_settings, recorded_run
from warehouse.ingest import backfill_range, backfill_source
from warehouse.loader import BatchResult


@flow(name="backfill")
def backfill(
    dataset: str,
    start: str,
    end: str,
    config: str | None = None,
    data_dir: str | None = None,
) -> DatasetSummary:
    """Re-extract ``dataset`` from day ``start`` to day ``end`` (ISO dates, Bangkok), idempotently.

    Refused before anything is written for a snapshot dataset, a range that ends before it
    starts, or one that ends after today.
    """
    first, last = backfill_range(connector_for(dataset), start, end)  # before the ledger
    settings = flow_settings(config, data_dir)
    with recorded_run(settings, [dataset]) as run_id:
        summary = backfill_dataset(settings, dataset, first, last, run_id)
        gate_for(settings).build_docs()
        return summary


@task(
    retries=2,
    retry_delay_seconds=[10, 60],
    cache_policy=NO_CACHE,
    task_run_name="backfill {dataset} {start} to {end}",
)
def backfill_dataset(
    settings: Settings, dataset: str, start: date, end: date, run_id: str
) -> DatasetSummary:
    """Extract, land and load the range, under a progress bar. I/O: retried, and safe to retry."""
    logger = get_run_logger()
    results: list[BatchResult] = []
    with _progress() as progress:
        bar = progress.add_task(f"{dataset} {start} to {end}", total=None, counts="")

        def report(result: BatchResult) -> None:
            results.append(result)
            summary = DatasetSummary.of(dataset, results)
            progress.update(bar, counts=_counts(summary))
            logger.info(batch_line(result))

        backfill_source(
            settings.warehouse,
            connector_for(dataset),
            settings.source(dataset),
            start,
            end,
            run_id,
            validate=gate_for(settings),
            on_batch=report,
        )
        progress.update(bar, total=1, completed=1)
    return DatasetSummary.of(dataset, results)


@contextmanager
def _progress() -> Iterator[Progress]:
    """A bar that pulses (no source says how many pages it will send) and counts the batches.

    It draws on the console Prefect logs to (stderr), so that log lines print above the bar
    instead of through it; stdout keeps the command's summary. That console's theme lacks
    rich's default styles, which the bar needs: they are lent to it while the bar shows.
    """
    console = _log_console()
    console.push_theme(Theme(), inherit=True)
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            yield progress
    finally:
        console.pop_theme()


def _log_console() -> Console:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            return handler.console
    return Console(stderr=True)


def _counts(summary: DatasetSummary) -> str:
    batches = f"{summary.batches} batch" + ("" if summary.batches == 1 else "es")
    return (
        f"{batches}: {summary.rows_received:,} rows, {summary.rows_changed:,} new or changed, "
        f"{summary.rows_quarantined:,} set aside"
    )
