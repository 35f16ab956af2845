"""Prefect flows that ingest: one per stakeholder with a task per dataset, and a file by hand.

Flows take only JSON-friendly parameters (``config``, ``data_dir``) so deployments can run them;
every flow run writes its row to the run ledger ``audit.runs``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from connectors.base import UnreachableError
from connectors.registry import connector_for, datasets_of
from expectations.gate import Gate
from flows.config import Settings
from flows.runs import flow_settings, recorded_run
from warehouse.ingest import ingest_file, ingest_source
from warehouse.loader import BatchResult
from warehouse.validation import Validate


class IngestError(RuntimeError):
    """One or more datasets could not be ingested; the message names each with its reason."""


@dataclass(frozen=True)
class DatasetSummary:
    dataset: str
    batches: int
    rows_received: int
    rows_loaded: int
    rows_quarantined: int
    statuses: dict[str, int]
    rows_changed: int = 0  # of rows_loaded, new or different from the stored rows

    @classmethod
    def of(cls, dataset: str, results: list[BatchResult]) -> DatasetSummary:
        statuses: dict[str, int] = {}
        for result in results:
            statuses[result.status] = statuses.get(result.status, 0) + 1
        return cls(
            dataset,
            len(results),
            sum(r.rows_received for r in results),
            sum(r.rows_loaded for r in results),
            sum(r.rows_quarantined for r in results),
            statuses,
            sum(r.rows_changed for r in results),
        )


def batch_line(result: BatchResult) -> str:
    """One batch's outcome, for the flow log."""
    detail = f" ({result.detail})" if result.detail else ""
    return (
        f"{result.dataset} batch {result.batch_id}: {result.status}, {result.rows_received} "
        f"received = {result.rows_loaded} loaded ({result.rows_changed} new or changed) + "
        f"{result.rows_quarantined} quarantined{detail}"
    )


def worth_retrying(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a dataset's task unless its source could not be reached at all: a refused
    connection fails the run at once, naming the URL, and the next scheduled run tries again."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None:
        error = state.result(raise_on_failure=False)
    return not isinstance(error, UnreachableError)


@task(
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
    task_run_name="ingest {dataset}",
)
def ingest_dataset(
    settings: Settings, dataset: str, run_id: str, url: str | None = None
) -> DatasetSummary:
    """Extract what is new, land it, load it. I/O: retried, and safe to retry."""
    logger = get_run_logger()

    def report(result: BatchResult) -> None:
        logger.info(batch_line(result))

    results = ingest_source(
        settings.warehouse,
        connector_for(dataset),
        settings.source(dataset, url),
        run_id,
        validate=lazy_gate(settings),
        on_batch=report,
    )
    return DatasetSummary.of(dataset, results)


@flow(name="ingest")
def ingest(
    datasets: list[str],
    url: str | None = None,
    config: str | None = None,
    data_dir: str | None = None,
) -> list[DatasetSummary]:
    """Ingest the named datasets; ``url`` overrides the endpoint (with one dataset)."""
    settings = flow_settings(config, data_dir)
    return _ingest_all(settings, datasets, url)


@flow(name="city")
def city(
    config: str | None = None,
    data_dir: str | None = None,
    datasets: list[str] | None = None,
) -> list[DatasetSummary]:
    """The city municipality: CKAN open-data portal and the LoRaWAN sensor network.

    ``datasets``: some of them only (default all), for a deployment on their own cadence.
    """
    return _ingest_all(flow_settings(config, data_dir), _chosen("city", datasets))


@flow(name="transit")
def transit(
    config: str | None = None,
    data_dir: str | None = None,
    datasets: list[str] | None = None,
) -> list[DatasetSummary]:
    """KKTS: GTFS, GTFS-Realtime and ticketing ridership.

    ``datasets``: some of them only (default all), for a deployment on their own cadence.
    """
    return _ingest_all(flow_settings(config, data_dir), _chosen("transit", datasets))


@flow(name="university")
def university(
    config: str | None = None,
    data_dir: str | None = None,
    datasets: list[str] | None = None,
) -> list[DatasetSummary]:
    """Khon Kaen University: FHIR MeasureReports and the EMS research export.

    ``datasets``: some of them only (default all), for a deployment on their own cadence.
    """
    return _ingest_all(flow_settings(config, data_dir), _chosen("university", datasets))


@flow(name="citizens")
def citizens(
    config: str | None = None,
    data_dir: str | None = None,
    datasets: list[str] | None = None,
) -> list[DatasetSummary]:
    """Citizens' complaints through the Open311 channel.

    ``datasets``: some of them only (default all), for a deployment on their own cadence.
    """
    return _ingest_all(flow_settings(config, data_dir), _chosen("citizens", datasets))


@flow(name="ingest-file")
def ingest_received_file(
    dataset: str, path: str, config: str | None = None, data_dir: str | None = None
) -> DatasetSummary:
    """Load a file a steward received by hand; a file that cannot be parsed fails the run."""
    settings = flow_settings(config, data_dir)
    with recorded_run(settings, [dataset], report=True) as run_id:
        gate = gate_for(settings)
        result = ingest_file(
            settings.warehouse,
            connector_for(dataset),
            settings.sources[dataset],
            Path(path),
            run_id,
            gate,
        )
        gate.build_docs()
        get_run_logger().info(
            "%s: %s from %s, %d loaded, %d quarantined",
            dataset,
            result.status,
            path,
            result.rows_loaded,
            result.rows_quarantined,
        )
        if result.status == "rejected":
            raise IngestError(
                f"{dataset}: {path} rejected, nothing loaded (batch {result.batch_id}): "
                f"{result.detail}"
            )
        return DatasetSummary.of(dataset, [result])


def _failure(dataset: str, state: Any) -> str:
    """Why a dataset's task failed, in one line that starts with the dataset."""
    error = state.result(raise_on_failure=False)
    if not isinstance(error, Exception):
        return f"{dataset}: {state.message or state.name}"
    if str(error).startswith(dataset):
        return str(error)
    return f"{dataset}: {type(error).__name__}: {error}"


def _chosen(stakeholder: str, datasets: list[str] | None) -> list[str]:
    """``datasets`` checked to be the stakeholder's own (all of them when ``None``)."""
    own = datasets_of(stakeholder)
    if datasets is None:
        return own
    foreign = [d for d in datasets if d not in own]
    if foreign or not datasets:
        raise ValueError(
            f"{stakeholder}: datasets must be some of {', '.join(own)}; got {datasets or 'none'}"
        )
    return list(dict.fromkeys(datasets))


def _ingest_all(
    settings: Settings, datasets: list[str], url: str | None = None
) -> list[DatasetSummary]:
    for dataset in datasets:
        connector_for(dataset)  # unknown names fail before anything runs
    if url and len(datasets) != 1:
        raise ValueError("--url overrides one dataset's endpoint: name exactly one dataset")
    with recorded_run(settings, datasets, report=True) as run_id:
        futures = [ingest_dataset.submit(settings, d, run_id, url) for d in datasets]
        wait(futures)
        build_docs(settings)
        summaries, failures = [], []
        for dataset, future in zip(datasets, futures, strict=True):
            state = future.state
            if state.is_completed():
                summaries.append(future.result())
                continue
            failures.append(_failure(dataset, state))
        if failures:
            raise IngestError("; ".join(failures))
        return summaries


_GATES: dict[Path, Gate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(settings: Settings) -> Gate:
    """The process's Great Expectations gate for this data directory (built once: ~7 s)."""
    key = settings.data_dir.resolve()
    with _GATES_LOCK:
        if key not in _GATES:
            _GATES[key] = Gate(settings.data_dir / "reports" / "gx")
        return _GATES[key]


def lazy_gate(settings: Settings) -> Validate:
    """The gate, built when the first batch arrives: a source that cannot be reached fails
    without waiting for Great Expectations to import."""

    def validate(*args: Any) -> Any:
        return gate_for(settings)(*args)

    return validate


def build_docs(settings: Settings) -> None:
    """Render Data Docs for the results stored since the last build, if a gate ran."""
    gate = _GATES.get(settings.data_dir.resolve())
    if gate is not None:
        gate.build_docs()
