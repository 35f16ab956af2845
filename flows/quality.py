"""The data-quality report of a run: written once when the run ends, kept, and published as a
Prefect artifact.

``publish_quality_report`` (called by every root flow as it ends) writes
``<data>/reports/quality/<run id>/``; ``quality_report`` (``smartcity report quality``) gives back
what was written then. A run with no kept report (it ended before reports were kept, or it never
reached its end) is gathered when asked, with freshness as at the run's end.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors import clock
from connectors.registry import connector_for
from flows.config import Settings
from warehouse.audit import DatasetStatus, dataset_status
from warehouse.quality_report import (
    Freshness,
    check_catalogue,
    find_run,
    gather,
    markdown_summary,
    render_stored,
    stored_report,
    write_quality_report,
)


def statuses(settings: Settings) -> list[DatasetStatus]:
    """Every configured dataset's freshness, judged by its newest data (connector ``FRESHNESS``)."""
    lags = {name: source.lag_hours for name, source in settings.sources.items()}
    newest = {name: getattr(connector_for(name), "FRESHNESS", None) for name in lags}
    return dataset_status(settings.warehouse, lags, newest)


def quality_report(settings: Settings, run_id: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The report of ``run_id`` (default: the latest programme run): its folder and data.

    The report kept since the run ended is read back as it is (same figures, same page). A run
    without one is gathered now, with freshness as at its ``finished_at``, and kept; a run still
    going gets a provisional report, replaced when it ends.
    """
    run = find_run(settings.warehouse, run_id)
    folder = _reports(settings) / run["run_id"]
    kept = stored_report(folder)
    if kept is not None:
        render_stored(folder, kept)
        return folder, kept
    ended: datetime | None = run["finished_at"]
    if ended is None:
        return _write(settings, run, judged_at=clock.now(), received_by=None, final=False)
    # the run's end on the calendar it ran on (it took as_of as today when it started)
    as_of: date | None = run.get("as_of")
    started = run["started_at"].astimezone(clock.BANGKOK).date()
    shift = as_of - started if as_of else timedelta(0)
    return _write(
        settings, run, judged_at=ended + shift, received_by=ended, final=True, offset=shift
    )


def publish_quality_report(settings: Settings, run_id: str) -> Path:
    """Write the report of the run that is ending (freshness as at now, on the pipeline's
    clock), unless it was already written, and publish its summary as the run's markdown
    artifact."""
    from prefect.artifacts import create_markdown_artifact

    run = find_run(settings.warehouse, run_id)
    folder = _reports(settings) / run_id
    report = stored_report(folder)
    if report is None:
        folder, report = _write(settings, run, judged_at=clock.now(), received_by=None, final=True)
    create_markdown_artifact(
        key="data-quality",
        markdown=markdown_summary(report, folder),
        description="Data-quality report of this run",
    )
    return folder


def _write(
    settings: Settings,
    run: dict[str, Any],
    *,
    judged_at: datetime,
    received_by: datetime | None,
    final: bool,
    offset: timedelta | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Gather, write and keep the report; ``offset``: the run's calendar from the wall clock's
    (default: the pipeline's now)."""
    from expectations.gate import PROJECT, check_name

    rules = {
        name: Freshness(source.lag_hours, getattr(connector_for(name), "FRESHNESS", None))
        for name, source in settings.sources.items()
    }
    report = gather(
        settings.warehouse,
        run,
        rules,
        judged_at=judged_at,
        received_by=received_by,
        catalogue=check_catalogue(PROJECT / "expectations", check_name),
        final=final,
        calendar_offset=clock.offset() if offset is None else offset,
    )
    docs = settings.data_dir / "reports" / "gx" / "data_docs" / "index.html"
    return write_quality_report(
        report, _reports(settings), settings.data_dir, docs if docs.exists() else None
    )


def _reports(settings: Settings) -> Path:
    return settings.data_dir / "reports" / "quality"
