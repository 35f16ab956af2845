"""Helpers for the tests that recompute monthly KPIs from the raw tables, without dbt: seeds,
months, population carried forward, and the published values to compare with."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flows.transform import DBT_PROJECT

BANGKOK = ZoneInfo("Asia/Bangkok")
Key = tuple[str, str | None, date]  # kpi, municipality (None: city-wide), month start
Figures = tuple[float | None, float | None, float | None]  # numerator, denominator, value


def seed(name: str) -> list[dict[str, str]]:
    with (DBT_PROJECT / "seeds" / f"{name}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def municipalities() -> list[str]:
    return [row["municipality_id"] for row in seed("municipalities")]


def aliases() -> dict[str, str]:
    return {row["alias"]: row["municipality_id"] for row in seed("municipality_aliases")}


def months_between(first: date, last: date) -> set[date]:
    months, month = set(), first
    while month <= last:
        months.add(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def rows(con: Any, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def populations(con: Any) -> dict[tuple[str, int], int]:
    """Population per municipality and published year, summed over its communities."""
    names = aliases()
    totals: dict[tuple[str, int], int] = defaultdict(int)
    for name, year, population in rows(
        con, "select municipality, year_ce, population from raw.city_population"
    ):
        if name in names and population is not None:
            totals[names[name], int(year)] += population
    return dict(totals)


def population_in(totals: dict[tuple[str, int], int], municipality: str, year: int) -> int | None:
    """The year's population, or the latest published year's before it (carried forward)."""
    published = [y for m, y in totals if m == municipality and y <= year]
    return totals[municipality, max(published)] if published else None


def published(con: Any, kpis: tuple[str, ...]) -> dict[Key, Figures]:
    """The monthly values ``marts.fct_kpi_values`` holds for ``kpis``, each key once."""
    found = con.execute(
        "select kpi_id, municipality_id, route_id, period_grain, period_start, "
        "numerator, denominator, value from marts.fct_kpi_values where list_contains(?, kpi_id)",
        [list(kpis)],
    ).fetchall()
    table: dict[Key, Figures] = {}
    for kpi, municipality, route, grain, start, numerator, denominator, value in found:
        assert route is None and grain == "month", (kpi, municipality, route, grain, start)
        assert (kpi, municipality, start) not in table, ("duplicate", kpi, municipality, start)
        table[kpi, municipality, start] = (numerator, denominator, value)
    return table


def same(actual: float | None, wanted: float | None) -> bool:
    if wanted is None or actual is None:
        return actual is None and wanted is None
    return math.isclose(actual, wanted, rel_tol=1e-9, abs_tol=1e-9)


def assert_every_month_and_municipality(
    expected: dict[Key, Figures], table: dict[Key, Figures], by_municipality: set[str]
) -> None:
    """Each KPI of ``table`` has every month recomputed, per municipality for the KPIs of
    ``by_municipality`` and city-wide for the others."""
    months = {start for _, _, start in expected}
    assert months, "the session's history has data for these KPIs"
    for kpi in sorted({k for k, _, _ in expected}):
        found = {(m, start) for k, m, start in table if k == kpi}
        if kpi in by_municipality:  # municipality x month
            wanted = {(m, month) for m in municipalities() for month in months}
        else:  # city-wide, month
            wanted = {(None, month) for month in months}
        assert found == wanted, (kpi, sorted(found ^ wanted, key=str))
