"""Medical & Healthcare KPIs (HE01-HE03) recomputed from the raw tables, without dbt.

Each KPI is computed here in plain Python from ``raw.university_ems_dispatches``,
``raw.university_measure_reports`` and ``raw.city_population`` (municipality names resolved with
the seed CSV files, local dates with ``zoneinfo``), for every month of the session's history
(and, explicitly, the month with the most data), and compared with ``marts.fct_kpi_values``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from typing import Any

import pytest

from tests.recompute import (
    BANGKOK,
    Figures,
    Key,
    aliases,
    assert_every_month_and_municipality,
    months_between,
    municipalities,
    population_in,
    populations,
    published,
    rows,
    same,
)

pytestmark = pytest.mark.flow

HEALTH_KPIS = ("HE01", "HE02", "HE03")


def month_of(day: date) -> date:
    return day.replace(day=1)


def ratio(numerator: float | None, denominator: float | None, scale: float = 1) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator * scale / denominator


def he01(con: Any) -> tuple[dict[Key, Figures], dict[date, int]]:
    """Median call-to-scene minutes of the dispatches called in the month (local date)."""
    names = aliases()
    minutes: dict[date, list[float]] = defaultdict(list)
    calls: dict[date, int] = defaultdict(int)
    dispatches = rows(
        con, "select municipality_th, call_at, scene_arrival_at from raw.university_ems_dispatches"
    )
    for name, call_at, arrival_at in dispatches:
        if name not in names:
            continue
        month = month_of(call_at.astimezone(BANGKOK).date())
        calls[month] += 1
        if arrival_at is not None:
            minutes[month].append((arrival_at - call_at).total_seconds() / 60)
    expected: dict[Key, Figures] = {}
    for month in calls:
        values = minutes[month]
        median = statistics.median(values) if values else None
        expected["HE01", None, month] = (None, float(len(values)), median)
    return expected, dict(calls)


def reports(con: Any, measure: str) -> list[tuple[str, date, int, int | None]]:
    """(municipality, period start, numerator, denominator) of the measure's complete reports."""
    known = set(municipalities())
    found = rows(
        con,
        "select municipality_id, period_start, numerator, denominator "
        "from raw.university_measure_reports "
        f"where measure = '{measure}' and status = 'complete'",
    )
    return [row for row in found if row[0] in known]


def he02(con: Any, months: set[date]) -> tuple[dict[Key, Figures], dict[date, int]]:
    """The month's telemedicine consultations per 1,000 inhabitants, per municipality."""
    consultations: dict[tuple[str, date], int] = defaultdict(int)
    count: dict[date, int] = defaultdict(int)
    for municipality, start, numerator, _ in reports(con, "telemedicine-consultations"):
        consultations[municipality, month_of(start)] += numerator
        count[month_of(start)] += 1
    totals = populations(con)
    expected: dict[Key, Figures] = {}
    for month in months:
        for municipality in municipalities():
            found = consultations.get((municipality, month))
            numerator = None if found is None else float(found)
            population = population_in(totals, municipality, month.year)
            denominator = None if population is None else float(population)
            value = ratio(numerator, denominator, 1000)
            expected["HE02", municipality, month] = (numerator, denominator, value)
    return expected, dict(count)


def he03(con: Any, months: set[date]) -> tuple[dict[Key, Figures], dict[date, int]]:
    """Patients with an EHR over registered patients, summed over the municipalities."""
    sums: dict[date, list[int]] = {}
    count: dict[date, int] = defaultdict(int)
    for _, start, numerator, denominator in reports(con, "ehr-coverage"):
        totals = sums.setdefault(month_of(start), [0, 0])
        totals[0] += numerator
        totals[1] += denominator
        count[month_of(start)] += 1
    expected: dict[Key, Figures] = {}
    for month in months:
        if month in sums:
            numerator, denominator = (float(n) for n in sums[month])
            expected["HE03", None, month] = (numerator, denominator, ratio(numerator, denominator))
        else:
            expected["HE03", None, month] = (None, None, None)
    return expected, dict(count)


def recomputed(con: Any) -> tuple[dict[Key, Figures], dict[str, date]]:
    """Every health KPI value of the history, and per KPI the month with the most source rows."""
    expected, calls = he01(con)
    telemedicine = {
        month_of(start) for _, start, _, _ in reports(con, "telemedicine-consultations")
    }
    ehr = {month_of(start) for _, start, _, _ in reports(con, "ehr-coverage")}
    with_data = {*calls, *telemedicine, *ehr}
    months = months_between(min(with_data), max(with_data))
    for month in months - set(calls):  # a month without a dispatch
        expected["HE01", None, month] = (None, 0.0, None)
    by_municipality, consultations = he02(con, months)
    coverage, ehr_reports = he03(con, months)
    busiest = {
        kpi: max(counts, key=counts.__getitem__)
        for kpi, counts in (("HE01", calls), ("HE02", consultations), ("HE03", ehr_reports))
    }
    return {**expected, **by_municipality, **coverage}, busiest


@pytest.fixture(scope="module")
def health(programme: Any) -> tuple[dict[Key, Figures], dict[str, date], dict[Key, Figures]]:
    with programme.warehouse.read() as con:
        expected, busiest = recomputed(con)
        return expected, busiest, published(con, HEALTH_KPIS)


def test_every_health_kpi_has_every_municipality_its_grain_has(health: Any) -> None:
    expected, _, table = health
    assert {kpi for kpi, _, _ in expected} == set(HEALTH_KPIS)
    assert_every_month_and_municipality(expected, table, by_municipality={"HE02"})


@pytest.mark.parametrize("kpi", HEALTH_KPIS)
def test_health_kpi_matches_the_raw_tables(health: Any, kpi: str) -> None:
    expected, busiest, table = health
    month = busiest[kpi]
    # every month of the history is compared; the one with the most data has every value
    of_kpi = {key: figures for key, figures in expected.items() if key[0] == kpi}
    assert any(key[2] == month for key in of_kpi)
    assert all(figures[2] is not None for key, figures in of_kpi.items() if key[2] == month)
    for key, wanted in sorted(of_kpi.items(), key=str):
        actual = table.get(key)
        assert actual is not None, ("missing", key)
        assert all(same(a, w) for a, w in zip(actual, wanted, strict=True)), (key, actual, wanted)
