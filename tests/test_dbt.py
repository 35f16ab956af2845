"""The dbt project on the programme's warehouse: complete KPIs, a clean build, incremental =
full refresh, source freshness that notices a frozen feed, and lineage back to the raw tables."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.transform import DBT_PROJECT
from tests.support import TEST_CLOCK, copy_of, dbt, write_config

pytestmark = pytest.mark.flow

AREA_MODELS = {
    "Logistics & Transportation": "int_transport_kpis_computed",
    "MICE City": "int_mice_kpis_computed",
    "Medical & Healthcare": "int_health_kpis_computed",
    "Smart Governance": "int_governance_kpis_computed",
    "Smart Environment": "int_environment_kpis_computed",
}


def query(settings: Any, sql: str) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql).fetchall()


def kpi_table(settings: Any) -> list[tuple]:
    """fct_kpi_values without the run that computed each row, figures to 9 significant digits
    (DuckDB sums in parallel, so the last bits of a float sum differ between builds)."""
    figures = ", ".join(
        f"case when {c} = 0 then 0 else round({c}, 8 - cast(floor(log10(abs({c}))) as int)) "
        f"end as {c}"
        for c in ("value", "numerator", "denominator")
    )
    return query(
        settings,
        f"select * exclude (run_id, dbt_invocation_id, value, numerator, denominator), {figures} "
        "from marts.fct_kpi_values order by kpi_value_id",
    )


def test_every_kpi_every_municipality_and_month(programme: Any) -> None:
    """Every month of the emulated history has a value (sources with longer history add more)."""
    catalogue = query(programme, "select kpi_id, grain from marts.dim_kpi")
    assert len(catalogue) == 17
    present = dict(query(programme, "select kpi_id, count(*) from marts.fct_kpi_values group by 1"))
    assert set(present) == {kpi for kpi, _ in catalogue}
    municipalities = {
        m for (m,) in query(programme, "select municipality_id from marts.municipalities")
    }
    months = {day.replace(day=1) for day in TEST_CLOCK.days()}
    for kpi, grain in catalogue:
        found = query(
            programme,
            f"select distinct municipality_id, period_start from marts.fct_kpi_values "
            f"where kpi_id = '{kpi}' and period_grain = 'month'",
        )
        if "municipality" in grain and "month" in grain:
            for municipality in municipalities:
                seen = {start for m, start in found if m == municipality}
                assert months <= seen, (kpi, municipality, seen)
        elif "month" in grain:
            assert months <= {start for _, start in found}, (kpi, found)
        if "municipality" in grain:
            with_municipality = query(
                programme,
                f"select distinct municipality_id from marts.fct_kpi_values where kpi_id = '{kpi}'",
            )
            assert {m for (m,) in with_municipality} == municipalities, kpi


def test_build_is_clean_and_incremental_equals_full_refresh(programme: Any, tmp_path: Path) -> None:
    built = kpi_table(programme)
    assert built, "programme_daily built the KPIs"
    copied = copy_of(programme, tmp_path)  # a plain dbt build leaves no run in the ledger
    warehouse = copied.warehouse.path.resolve()
    incremental, warnings = dbt(warehouse, tmp_path, "build")
    assert incremental.success and warnings == []
    done = {"success", "pass", "no-op"}  # exposures report no-op
    assert all(r.status in done for r in incremental.result), [
        (r.node.unique_id, r.status) for r in incremental.result if r.status not in done
    ]
    assert kpi_table(copied) == built
    refreshed, warnings = dbt(
        warehouse, tmp_path, "build", "--full-refresh", "--select", "fct_kpi_values"
    )
    assert refreshed.success and warnings == []
    assert kpi_table(copied) == built


def test_source_freshness_reports_a_frozen_feed(
    prefect_api: None, emulators: dict, tmp_path: Path
) -> None:
    from flows.ingest import ingest

    emulators["citizens"].faults.data["stale_feed"] = True  # nothing filed for three days
    config = write_config(tmp_path, emulators, citizens__requests={"options": {"history_days": 10}})
    data = tmp_path / "data"
    ingest(datasets=["citizens.requests", "city.solar"], config=str(config), data_dir=str(data))
    result, _ = dbt(
        (data / "warehouse.duckdb").resolve(),
        tmp_path,
        "source",
        "freshness",
        "--select",
        "source:citizens",
        "source:city.solar",
    )
    statuses = {r.node.name: r.status for r in result.result}
    assert statuses["service_requests"] in {"error", "warn"}
    assert statuses["solar"] == "pass"


def test_source_freshness_agrees_with_the_configured_lags() -> None:
    config = tomllib.loads((DBT_PROJECT.parent / "smartcity.toml").read_text(encoding="utf-8"))
    default = config["defaults"]["lag_hours"]

    for path in (DBT_PROJECT / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]:
            for table in source["tables"]:
                dataset = table["description"].rsplit("Dataset ", 1)[1].rstrip(".")
                lag = config["datasets"][dataset].get("lag_hours", default)
                warn = table["config"]["freshness"]["warn_after"]
                minutes = warn["count"] * (60 if warn["period"] == "hour" else 1)
                assert minutes == round(lag * 60), (table["name"], minutes, lag)


def test_docs_generate_and_every_kpi_reaches_its_sources(programme: Any, tmp_path: Path) -> None:
    result, warnings = dbt(programme.warehouse.path.resolve(), tmp_path, "docs", "generate")
    assert result.success and warnings == []
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text(encoding="utf-8"))
    assert (tmp_path / "target" / "catalog.json").exists()
    parents = manifest["parent_map"]

    def ancestors(node: str) -> set[str]:
        seen: set[str] = set()
        todo = [node]
        while todo:
            for parent in parents.get(todo.pop(), []):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    sources = {node["identifier"]: key for key, node in manifest["sources"].items()}
    fct = ancestors("model.khonkaen_smartcity.fct_kpi_values")
    for kpi, area, dimension, tables in query(
        programme, "select kpi_id, focus_area, smart_dimension, source_tables from marts.dim_kpi"
    ):
        model = AREA_MODELS.get(area) or AREA_MODELS[dimension]
        upstream = ancestors(f"model.khonkaen_smartcity.{model}")
        for table in tables:
            assert sources[table] in upstream, (kpi, model, table)
            assert sources[table] in fct, (kpi, table)
