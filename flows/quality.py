"""The data-quality report of a run, written to disk and published as a Prefect artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.registry import connector_for
from flows.config import Settings
from warehouse.audit import DatasetStatus, dataset_status
from warehouse.quality_report import gather, markdown_summary, write_quality_report


def statuses(settings: Settings) -> list[DatasetStatus]:
    """Every configured dataset's freshness, judged by its newest data (connector ``FRESHNESS``)."""
    lags = {name: source.lag_hours for name, source in settings.sources.items()}
    newest = {name: getattr(connector_for(name), "FRESHNESS", None) for name in lags}
    return dataset_status(settings.warehouse, lags, newest)


def quality_report(settings: Settings, run_id: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the report of ``run_id`` (default: the latest programme run): its folder and data."""
    report = gather(settings.warehouse, statuses(settings), run_id)
    docs = settings.data_dir / "reports" / "gx" / "data_docs" / "index.html"
    folder = write_quality_report(
        report, settings.data_dir / "reports" / "quality", docs if docs.exists() else None
    )
    return folder, report


def publish_quality_report(settings: Settings, run_id: str) -> Path:
    """Write the report and publish its summary as the run's markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    folder, report = quality_report(settings, run_id)
    create_markdown_artifact(
        key="data-quality",
        markdown=markdown_summary(report, folder),
        description="Data-quality report of this run",
    )
    return folder
