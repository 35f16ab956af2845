"""What every flow shares: its settings from JSON-friendly parameters, and its ledger row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import get_run_logger
from prefect.runtime import flow_run

from flows.config import Settings, load_settings
from warehouse import audit


def flow_settings(config: str | None, data_dir: str | None) -> Settings:
    return load_settings(Path(config) if config else None, Path(data_dir) if data_dir else None)


def quality_report_path(settings: Settings, run_id: str) -> Path:
    """Where the data-quality report of run ``run_id`` is (or will be) written."""
    return settings.data_dir / "reports" / "quality" / run_id / "index.html"


@contextmanager
def recorded_run(settings: Settings, datasets: list[str], *, report: bool = False) -> Iterator[str]:
    """Write this flow run's row to ``audit.runs`` at start, and close it with its outcome.

    With ``report``, a run that is not part of a larger one then writes its data-quality report,
    once, as it ends (failed or not): the report of a programme run covers its sub-runs.
    """
    run_id = str(flow_run.id)
    root_run_id = str(flow_run.root_flow_run_id or run_id)
    audit.start_run(settings.warehouse, run_id, root_run_id, flow_run.flow_name, datasets)
    try:
        yield run_id
    except BaseException as error:
        audit.finish_run(settings.warehouse, run_id, error=f"{type(error).__name__}: {error}")
        if report and root_run_id == run_id:
            _write_report(settings, run_id, failed=True)
        raise
    audit.finish_run(settings.warehouse, run_id)
    if report and root_run_id == run_id:
        _write_report(settings, run_id)


def _write_report(settings: Settings, run_id: str, failed: bool = False) -> None:
    from flows.quality import publish_quality_report

    logger = get_run_logger()
    try:
        folder = publish_quality_report(settings, run_id)
    except Exception as error:
        if not failed:
            raise
        # the run's own failure is what the steward must see, not the report's
        logger.warning("no data-quality report for failed run %s: %s", run_id, error)
        return
    logger.info("data-quality report: %s", folder / "index.html")
