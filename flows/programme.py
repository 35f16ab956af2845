"""``programme_daily``: every stakeholder, the KPI models, the deliveries, the quality report."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from delivery.dashboard import write_dashboard
from flows.config import Settings
from flows.export import export
from flows.ingest import DatasetSummary, citizens, city, transit, university
from flows.runs import flow_settings, quality_report_path, recorded_run
from flows.transform import transform
from warehouse.kpis import latest_kpis

STAKEHOLDER_FLOWS = (city, transit, university, citizens)


class ProgrammeError(RuntimeError):
    """Steps of the daily programme failed; the message names each with its reason."""


@flow(name="programme_daily")
def programme_daily(config: str | None = None, data_dir: str | None = None) -> list[DatasetSummary]:
    """Ingest every stakeholder in order, build the KPIs, deliver them (partner exports, the
    dashboard, the KPI summary as a Prefect table artifact) and, as the run ends, publish its
    data-quality report (also as a markdown artifact).

    A failing stakeholder does not stop the others, nor the KPIs of what did load; the run
    fails at the end, naming every step that failed.
    """
    settings = flow_settings(config, data_dir)
    with recorded_run(settings, ["*"], report=True) as run_id:
        summaries, failures = [], []
        for stakeholder_flow in STAKEHOLDER_FLOWS:
            state = stakeholder_flow(config=config, data_dir=data_dir, return_state=True)
            if state.is_completed():
                summaries.extend(state.result())
            else:
                failures.append(f"{stakeholder_flow.name}: {state.message}")
        state = transform(config=config, data_dir=data_dir, return_state=True)
        built = state.is_completed()
        if built:
            publish_kpi_summary(settings)
            state = export(config=config, data_dir=data_dir, return_state=True)
            if not state.is_completed():
                failures.append(f"export: {state.message}")
        else:
            failures.append(f"transform: {state.message}")
        if built:  # it links to this run's quality report, written as the run ends
            page = write_dashboard(settings, quality_report_path(settings, run_id))
            get_run_logger().info("KPI dashboard: %s", page)
        if failures:
            raise ProgrammeError("; ".join(failures))
        return summaries


def publish_kpi_summary(settings: Settings) -> None:
    """Each KPI's latest values, as the run's table artifact (what `smartcity kpis` prints)."""
    with settings.warehouse.read() as con:
        rows = [asdict(row) for row in latest_kpis(con)]
    create_table_artifact(
        key="kpi-summary", table=rows, description="Each KPI's latest period, per municipality"
    )
