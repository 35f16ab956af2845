"""MICE City (MI01–MI04) and environment (EN01–EN02) KPIs recomputed from the raw tables.

The session's programme run (30 days of emulated history) built ``marts.fct_kpi_values`` with
dbt. Here each KPI is computed again straight from the ``raw`` tables the pipelines loaded, with
DuckDB SQL and pandas and never through a dbt model, for the month with the most data (and the
Thai fiscal year holding it), and compared with what dbt built. The municipality names are
resolved with the seed file itself, read as CSV.
"""

from __future__ import annotations

import csv
from datetime import date
from typing import Any

import pandas as pd
import pytest

from flows.transform import DBT_PROJECT

pytestmark = pytest.mark.flow

PM25_STANDARD = 37.5  # µg/m³, Thai 24-hour standard: a day counts when its mean is above it
GRAINS = {
    "MI01": {"month", "fiscal_year"},
    "MI02": {"month", "fiscal_year"},
    "MI03": {"fiscal_year"},
    "MI04": {"month"},
    "EN01": {"month"},
    "EN02": {"month"},
}


def approx(expected: float | None) -> Any:
    return None if expected is None else pytest.approx(expected, rel=1e-9, abs=1e-9)


def aliases() -> list[str]:
    """Every spelling of the six municipalities, from the seed file (not from the warehouse)."""
    with (DBT_PROJECT / "seeds" / "municipality_aliases.csv").open(encoding="utf-8") as file:
        return [row["alias"] for row in csv.DictReader(file)]


def month_bounds(month: date) -> tuple[date, date]:
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return month, following


def fiscal_year_bounds(day: date) -> tuple[date, date]:
    """The Thai fiscal year (1 October to 30 September) holding ``day``: [start, next start)."""
    start = date(day.year if day.month >= 10 else day.year - 1, 10, 1)
    return start, date(start.year + 1, 10, 1)


def busiest_month(con: Any, sql: str) -> date:
    """The month (first day) with the most rows; ``sql`` selects one local date per row."""
    [(month,)] = con.execute(
        f"select date_trunc('month', d)::date from ({sql}) as t(d) "
        "group by 1 order by count(*) desc, 1 desc limit 1"
    ).fetchall()
    return month


def built(con: Any, kpi: str, grain: str, start: date) -> tuple[float, float, float]:
    """(value, numerator, denominator) of the city-wide row dbt built for the period."""
    rows = con.execute(
        "select value, numerator, denominator from marts.fct_kpi_values "
        "where kpi_id = ? and period_grain = ? and period_start = ? "
        "and municipality_id is null and route_id is null",
        [kpi, grain, start],
    ).fetchall()
    assert len(rows) == 1, (kpi, grain, start, rows)
    return rows[0]


def assert_kpi(
    con: Any,
    kpi: str,
    grain: str,
    start: date,
    value: float | None,
    numerator: float | None,
    denominator: float | None,
) -> None:
    assert built(con, kpi, grain, start) == (approx(value), approx(numerator), approx(denominator))


def test_mice_events_kpis_match_raw(programme: Any) -> None:
    """MI01 events, MI02 attendees (international / all), MI03 revenue, by start date."""
    names = aliases()
    with programme.warehouse.read() as con:
        month = busiest_month(con, "select start_date from raw.city_mice_events")
        periods = [("month", *month_bounds(month)), ("fiscal_year", *fiscal_year_bounds(month))]
        for grain, first, following in periods:
            [(events, international, attendees, revenue)] = con.execute(
                "select count(*), "
                "sum(coalesce(international_attendees, 0)), "
                "sum(coalesce(domestic_attendees, 0) + coalesce(international_attendees, 0)), "
                "sum(revenue_thb) "
                "from raw.city_mice_events "
                "where start_date >= ? and start_date < ? and list_contains(?, municipality)",
                [first, following, names],
            ).fetchall()
            assert events > 0, (grain, first)
            assert_kpi(con, "MI01", grain, first, events, events, None)
            assert_kpi(con, "MI02", grain, first, attendees, international, attendees)
            if grain == "fiscal_year":
                assert_kpi(con, "MI03", grain, first, revenue, revenue, None)


def test_hotel_occupancy_matches_raw(programme: Any) -> None:
    """MI04: occupied ÷ available room-nights over hotels and days, not a mean of rates."""
    names = aliases()
    with programme.warehouse.read() as con:
        month = busiest_month(con, 'select "date" from raw.city_hotel_occupancy')
        first, following = month_bounds(month)
        [(occupied, available, mean_rate)] = con.execute(
            "select sum(rooms_occupied), sum(rooms_available), avg(occupancy_rate) "
            "from raw.city_hotel_occupancy "
            'where "date" >= ? and "date" < ? and list_contains(?, municipality) '
            "and rooms_occupied is not null and rooms_available is not null",
            [first, following, names],
        ).fetchall()
        assert available > 0
        assert_kpi(con, "MI04", "month", first, occupied / available, occupied, available)
        # the published daily rates' mean is a different figure: not what MI04 reports
        assert built(con, "MI04", "month", first)[0] != pytest.approx(mean_rate, abs=1e-12)


def test_pm25_days_above_standard_match_raw(programme: Any) -> None:
    """EN01 with pandas: uplinks deduplicated, device daily means, their city-wide mean."""
    with programme.warehouse.read() as con:
        uplinks = con.execute(
            'select dev_eui, dev_addr, f_cnt, deduplication_id, "time", pm25 '
            "from raw.city_sensor_uplinks where f_port = 2"
        ).df()
    local = pd.to_datetime(uplinks["time"], utc=True).dt.tz_convert("Asia/Bangkok")
    uplinks["day"] = local.dt.date
    # a frame is its counter; an uplink without one (fCnt is optional) is only itself
    uplinks["frame"] = uplinks["f_cnt"].astype("string").fillna("id:" + uplinks["deduplication_id"])
    uplinks = uplinks.sort_values("time").drop_duplicates(["dev_eui", "dev_addr", "frame", "day"])
    readings = uplinks[uplinks["pm25"].between(0, 1000)]
    device_days = readings.groupby(["day", "dev_eui"])["pm25"].mean()
    city_days = device_days.groupby(level="day").mean()
    months = pd.Series([day.replace(day=1) for day in city_days.index], index=city_days.index)
    month = months.value_counts().sort_index(ascending=False).idxmax()
    in_month = city_days[months == month]
    above = float((in_month > PM25_STANDARD).sum())
    with programme.warehouse.read() as con:
        assert_kpi(con, "EN01", "month", month, above, above, float(len(in_month)))
        months_built = {
            start
            for (start,) in con.execute(
                "select period_start from marts.fct_kpi_values where kpi_id = 'EN01'"
            ).fetchall()
        }
    assert months_built == set(months), "EN01 has a row for every month with PM2.5 readings"


def test_solar_generation_matches_raw(programme: Any) -> None:
    """EN02: the month's kWh over the sites in the six municipalities, in MWh."""
    names = aliases()
    with programme.warehouse.read() as con:
        month = busiest_month(con, 'select "date" from raw.city_solar')
        first, following = month_bounds(month)
        [(kwh,)] = con.execute(
            "select sum(energy_kwh) from raw.city_solar "
            'where "date" >= ? and "date" < ? and list_contains(?, municipality)',
            [first, following, names],
        ).fetchall()
        assert kwh > 0
        assert_kpi(con, "EN02", "month", first, kwh / 1000, kwh / 1000, None)


def test_every_kpi_present_city_wide_for_every_period_with_data(programme: Any) -> None:
    """Each KPI with its grains, city-wide rows only, and a month row per month with data."""
    months_with_data = {
        "MI01": "select distinct date_trunc('month', start_date)::date from raw.city_mice_events",
        "MI04": "select distinct date_trunc('month', \"date\")::date from raw.city_hotel_occupancy",
        "EN02": "select distinct date_trunc('month', \"date\")::date from raw.city_solar",
    }
    months_with_data["MI02"] = months_with_data["MI01"]
    with programme.warehouse.read() as con:
        for kpi, grains in GRAINS.items():
            rows = con.execute(
                "select period_grain, period_start, municipality_id, route_id "
                "from marts.fct_kpi_values where kpi_id = ?",
                [kpi],
            ).fetchall()
            assert {grain for grain, *_ in rows} == grains, kpi
            assert all(m is None and r is None for _, _, m, r in rows), f"{kpi} is city-wide"
            if "fiscal_year" in grains:
                starts = {start for grain, start, *_ in rows if grain == "fiscal_year"}
                assert all((s.month, s.day) == (10, 1) for s in starts), (kpi, starts)
            if kpi in months_with_data:
                expected = {m for (m,) in con.execute(months_with_data[kpi]).fetchall()}
                assert {start for grain, start, *_ in rows if grain == "month"} == expected, kpi
