"""``programme_daily``: every stakeholder, then the KPI models, then the data-quality report."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.config import Settings
from flows.ingest import DatasetSummary, IngestError, citizens, city, transit, university
from flows.quality import publish_quality_report
from flows.runs import flow_settings, recorded_run
from flows.transform import transform
from warehouse.kpis import latest_kpis

STAKEHOLDER_FLOWS = (city, transit, university, citizens)


@flow(name="programme_daily")
def programme_daily(config: str | None = None, data_dir: str | None = None) -> list[DatasetSummary]:
    """Ingest every stakeholder in order, build the KPIs, publish the KPI summary and the
    data-quality report (as Prefect table and markdown artifacts).

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
        if state.is_completed():
            publish_kpi_summary(settings)
        else:
            failures.append(f"transform: {state.message}")
        report = publish_quality_report(settings, run_id)
        get_run_logger().info("data-quality report: %s", report / "index.html")
        if failures:
            raise IngestError("; ".join(failures))
        return summaries


def publish_kpi_summary(settings: Settings) -> None:
    """Each KPI's latest values, as the run's table artifact (what `smartcity kpis` prints)."""
    with settings.warehouse.read() as con:
        rows = [asdict(row) for row in latest_kpis(con)]
    create_table_artifact(
        key="kpi-summary", table=rows, description="Each KPI's latest period, per municipality"
    )
