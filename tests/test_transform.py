"""The transform flow and the KPI command as a steward meets them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from connectors import clock
from flows.cli import app
from tests.support import copy_of

pytestmark = pytest.mark.flow


def kpis(programme: Any, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        ["--config", str(programme.config_path), "--data-dir", str(programme.data_dir), "kpis",
         *args],
    )  # fmt: skip


def test_kpis_prints_the_latest_values_of_an_area_and_municipality(programme: Any) -> None:
    result = kpis(programme, "--area", "transport", "--municipality", "Sila Town Municipality")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│ TR" in line]
    assert {line.split("│")[1].strip() for line in lines} == {"TR01", "TR02", "TR05"}
    assert all("Sila Town Municipality" in line for line in lines)
    with programme.warehouse.read() as con:
        found = con.execute(
            "select period_label, value, status, period_end < ? from marts.fct_kpi_values "
            "where kpi_id = 'TR01' and municipality_id = 'sila' order by period_start",
            [clock.today()],
        ).fetchall()
    # the latest month that has ended (complete or not), and the month in progress after it
    ended = [i for i, row in enumerate(found) if row[3]]
    shown = found[ended[-1] if ended else -1 :]
    tr01 = [line for line in lines if "│ TR01" in line]
    assert len(tr01) == len(shown) and 1 <= len(shown) <= 2
    for line, (label, value, status, _) in zip(tr01, shown, strict=True):
        assert label in line and f"{value:,.0f}" in line and status in line
    assert "in_progress: the period has not ended" in result.output


def test_kpis_for_a_named_period_and_clear_errors(programme: Any) -> None:
    with programme.warehouse.read() as con:
        [(month,)] = con.execute(
            "select strftime(min(period_start), '%Y-%m') from marts.fct_kpi_values "
            "where kpi_id = 'HE01'"
        ).fetchall()
    result = kpis(programme, "--area", "health", "--period", month)
    assert result.exit_code == 0 and "HE01" in result.output and month in result.output
    assert kpis(programme, "--area", "sports").exit_code == 1
    missing = kpis(programme, "--period", "1999-01")
    assert missing.exit_code == 1 and "no KPI value matches" in missing.output


def test_kpis_suppresses_a_health_value_from_a_small_count(programme: Any, tmp_path: Path) -> None:
    from warehouse.kpis import latest_kpis

    copied = copy_of(programme, tmp_path)
    with copied.warehouse.write() as con:
        [(key, municipality, month)] = con.execute(
            "select kpi_value_id, municipality_id, strftime(period_start, '%Y-%m') "
            "from marts.fct_kpi_values where kpi_id = 'HE02' order by period_start desc limit 1"
        ).fetchall()
        con.execute("update marts.fct_kpi_values set numerator = 4 where kpi_value_id = ?", [key])
        [row] = latest_kpis(con, area="health", municipality=municipality, period=month)
    assert (row.kpi_id, row.value, row.status) == ("HE02", None, "suppressed")
    result = kpis(copied, "--area", "health", "--municipality", municipality, "--period", month)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "│ HE02" in line]
    assert "suppressed" in line


def test_a_failing_dbt_test_fails_the_transform_flow_naming_the_node(
    programme: Any, tmp_path: Path
) -> None:
    from flows.transform import transform

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(programme.warehouse.path, data / "warehouse.duckdb")
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute(
            "insert into raw.city_population (community_code, year_ce, population, _batch_id, "
            "_loaded_at) select community_code, year_ce, population, 'forged', now() "
            "from raw.city_population limit 1"
        )  # a second row for a community and year, as no loader would write
    with pytest.raises(Exception, match="unique_combination_stg_city__community_populations"):
        transform(config=str(programme.config_path), data_dir=str(data))


def test_programme_run_publishes_the_kpi_summary_as_a_table_artifact(programme: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        [latest, *_] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["kpi-summary"])),
            sort="CREATED_DESC",
        )
    assert latest.type == "table"
    rows = latest.data if isinstance(latest.data, list) else json.loads(latest.data)
    assert {row["kpi_id"] for row in rows} == {f"TR0{i}" for i in range(1, 6)} | {
        "MI01", "MI02", "MI03", "MI04", "HE01", "HE02", "HE03", "GV01", "GV02", "GV03",
        "EN01", "EN02",
    }  # fmt: skip
    with programme.warehouse.read() as con:
        [(value, status, covered)] = con.execute(
            "select value, status, coverage_days from marts.fct_kpi_values where kpi_id = 'HE03' "
            "order by period_start desc limit 1"
        ).fetchall()
    [*_, he03] = [row for row in rows if row["kpi_id"] == "HE03"]  # its latest period
    assert he03["value"] == value and he03["where"] == "city-wide"
    assert (he03["status"], he03["coverage_days"]) == (status, covered)
    # a period the data does not cover whole is never judged, here either
    incomplete = [row for row in rows if row["coverage_days"] < row["period_days"]]
    assert incomplete and not {row["status"] for row in incomplete} & {"met", "not_met"}


def test_a_kpi_table_built_with_other_columns_is_rebuilt_whole(
    programme: Any, tmp_path: Path
) -> None:
    """An incremental build cannot fill a new column for the periods it keeps: a warehouse
    built by an older version gets a full refresh instead of dbt's schema-change error."""
    from flows.transform import kpi_columns_changed

    assert not kpi_columns_changed(programme)
    older = copy_of(programme, tmp_path)
    with older.warehouse.write() as con:
        con.execute("alter table marts.fct_kpi_values drop column coverage_days")
    assert kpi_columns_changed(older)
