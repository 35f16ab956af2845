"""One calendar for the whole pipeline, and KPI periods judged only once they are complete.

The suite itself runs on a pinned day (``SMARTCITY_TODAY``, set by conftest). Here the KPI
build is run again with "today" on the first days of a month and on 1 January, where a build
that judged a few days' data against a monthly or yearly target would go wrong.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import clock
from emulators.synthetic import Clock
from tests.support import TEST_CLOCK, copy_of, dbt

JUDGED = {"met", "not_met", "no_target"}
# the models that read today (var 'today'), and what is built from them
TODAY_MODELS = (
    "int_municipality_populations",
    "int_source_histories",
    "int_mice_kpis_computed",
    "int_transport_kpis_computed",
    "fct_kpi_values",
)


def test_the_pinned_day_is_today_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_VARIABLE, "2027-01-01")
    assert clock.today() == date(2027, 1, 1)
    assert clock.now().astimezone(clock.BANGKOK).date() == date(2027, 1, 1)
    assert Clock.now(history_days=30).last_day == date(2026, 12, 31)
    monkeypatch.setenv(clock.TODAY_VARIABLE, "2027-02-30")
    with pytest.raises(ValueError, match=r"SMARTCITY_TODAY: expected a date YYYY-MM-DD, got"):
        clock.today()


def test_the_suite_runs_on_its_pinned_day() -> None:
    assert clock.pinned_today() == TEST_CLOCK.today == clock.today()


def kpi_rows(settings: Any) -> list[dict[str, Any]]:
    with settings.warehouse.read() as con:
        found = con.execute("select * from marts.fct_kpi_values")
        names = [d[0] for d in found.description]
        return [dict(zip(names, row, strict=True)) for row in found.fetchall()]


def build_as_of(settings: Any, work: Path, today: date) -> list[dict[str, Any]]:
    """The KPI models rebuilt (with their tests) as if ``today`` were today."""
    selection = ["--select", *TODAY_MODELS, "--full-refresh"]
    variables = ["--vars", json.dumps({"today": today.isoformat()})]
    result, _ = dbt(settings.warehouse.path.resolve(), work, "build", *selection, *variables)
    failed = [
        (r.node.name, r.message) for r in result.result or [] if r.status in {"error", "fail"}
    ]
    assert result.success, failed
    return kpi_rows(settings)


def first_days() -> list[date]:
    """The 1st, 2nd and 3rd of the suite's month, and 1 January after it."""
    month = TEST_CLOCK.today.replace(day=1)
    new_year = date(TEST_CLOCK.today.year + 1, 1, 1)
    return [month, month + timedelta(days=1), month + timedelta(days=2), new_year]


@pytest.mark.flow
def test_the_kpi_build_on_the_first_days_of_a_month_and_of_a_year(
    programme: Any, tmp_path: Path
) -> None:
    settings = copy_of(programme, tmp_path)
    for today in first_days():
        rows = build_as_of(settings, tmp_path, today)
        assert rows, today
        for row in rows:
            where = (today, row["kpi_id"], row["period_grain"], row["period_start"])
            # a period is complete only once it has ended, and only then judged
            assert row["is_complete"] == (row["coverage_days"] == row["period_days"]), where
            assert 0 <= row["coverage_days"] <= row["period_days"], where
            if row["period_end"] >= today:
                assert not row["is_complete"], where
                assert row["status"] in {"in_progress", "no_data"}, where
            if not row["is_complete"]:
                assert row["status"] not in JUDGED, where
            if row["status"] in JUDGED:
                assert row["is_complete"] and row["period_end"] < today, where
            # days not yet lived are never counted as covered
            lived = (min(row["period_end"], today - timedelta(days=1)) - row["period_start"]).days
            assert row["coverage_days"] <= max(0, lived + 1), where
        running = [r for r in rows if r["period_start"] <= today <= r["period_end"]]
        assert running and all(r["status"] in {"in_progress", "no_data"} for r in running), today


@pytest.mark.flow
def test_the_programme_judges_no_period_before_it_is_complete(programme: Any) -> None:
    today = clock.today()
    rows = kpi_rows(programme)
    running = [r for r in rows if r["period_end"] >= today]
    assert running, "the current month and year are in the table"
    assert {r["status"] for r in running} <= {"in_progress", "no_data"}
    assert {r["status"] for r in rows if r["is_complete"]} <= JUDGED | {"no_data"}
    # the ridership history starts within the year: that year's boardings per inhabitant
    # (TR02) come from part of it, and say so
    first = TEST_CLOCK.first_day
    years = [r for r in rows if r["kpi_id"] == "TR02" and r["period_start"].year == first.year]
    history = (date(first.year, 12, 31) - first).days + 1
    assert years and all(r["coverage_days"] <= history for r in years)
    assert all(not r["is_complete"] and r["status"] not in JUDGED for r in years)
