"""``backfill``: re-read a date range of one dataset and load it again, leaving its watermark.

What a range means is the connector's business (its ``backfill`` hook, see
:func:`warehouse.ingest.backfill_hook`): Open311 date windows, the ticketing API's
``from``/``to``, whole GTFS-RT archive months, FHIR ``_lastUpdated`` and the sensor relay's
``after=`` from the first day on, the whole CKAN table (the portal cannot be asked for dates).
Snapshots (the GTFS zip, the research CSV) are refused. Loads merge on the key and leave rows
that arrive unchanged untouched, so a backfill over days already loaded changes no row.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from connectors.registry import connector_for
from flows.config import Settings
from flows.ingest import DatasetSummary, batch_line, build_docs, lazy_gate, worth_retrying
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
    with recorded_run(settings, [dataset], report=True) as run_id:
        summary = backfill_dataset(settings, dataset, first, last, run_id)
        build_docs(settings)
        return summary


@task(
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
    task_run_name="backfill {dataset} {start} to {end}",
)
def backfill_dataset(
    settings: Settings, dataset: str, start: date, end: date, run_id: str
) -> DatasetSummary:
    """Extract, land and load the range; each batch logs its outcome and the running totals
    (no source says how many pages it will send, so there is no percentage). I/O: retried, and
    safe to retry."""
    logger = get_run_logger()
    results: list[BatchResult] = []

    def report(result: BatchResult) -> None:
        results.append(result)
        so_far = _counts(DatasetSummary.of(dataset, results))
        logger.info("%s; %s %s to %s so far: %s", batch_line(result), dataset, start, end, so_far)

    backfill_source(
        settings.warehouse,
        connector_for(dataset),
        settings.source(dataset),
        start,
        end,
        run_id,
        validate=lazy_gate(settings),
        on_batch=report,
    )
    return DatasetSummary.of(dataset, results)


def _counts(summary: DatasetSummary) -> str:
    batches = f"{summary.batches} batch" + ("" if summary.batches == 1 else "es")
    return (
        f"{batches}: {summary.rows_received:,} rows, {summary.rows_changed:,} new or changed, "
        f"{summary.rows_quarantined:,} set aside"
    )
