"""``programme_daily``: every stakeholder, then the KPI models, then the data-quality report."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.ingest import DatasetSummary, IngestError, citizens, city, transit, university
from flows.quality import publish_quality_report
from flows.runs import flow_settings, recorded_run
from flows.transform import transform

STAKEHOLDER_FLOWS = (city, transit, university, citizens)


@flow(name="programme_daily")
def programme_daily(config: str | None = None, data_dir: str | None = None) -> list[DatasetSummary]:
    """Ingest every stakeholder in order, build the KPIs, publish the data-quality report.

    A failing stakeholder does not stop the others, nor the KPIs of what did load; the run
    fails at the end, naming every step that failed.
    """
    settings = flow_settings(config, data_dir)
    with recorded_run(settings, ["*"]) as run_id:
        summaries, failures = [], []
        for stakeholder_flow in STAKEHOLDER_FLOWS:
            state = stakeholder_flow(config=config, data_dir=data_dir, return_state=True)
            if state.is_completed():
                summaries.extend(state.result())
            else:
                failures.append(f"{stakeholder_flow.name}: {state.message}")
        state = transform(config=config, data_dir=data_dir, return_state=True)
        if not state.is_completed():
            failures.append(f"transform: {state.message}")
        report = publish_quality_report(settings, run_id)
        get_run_logger().info("data-quality report: %s", report / "index.html")
        if failures:
            raise IngestError("; ".join(failures))
        return summaries
