"""Governance KPIs (GV01-GV03) recomputed from the raw tables, without dbt.

Each ticket's lifecycle is folded here in plain Python from every state kept in
``raw.citizens_service_requests`` (a ticket is closed when its latest state is closed, at that
state's time, so a reopened ticket counts once, at its final closure); population
comes from ``raw.city_population`` (summed over communities, the latest published year carried
forward); municipality names are resolved with the seed CSV files and local dates with
``zoneinfo``. Every month of the session's history (and, explicitly, the month with the most
complaints) is compared with ``marts.fct_kpi_values``: numerator, denominator and value.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
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

GOVERNANCE_KPIS = ("GV01", "GV02", "GV03")


@dataclass(frozen=True)
class Ticket:
    municipality: str | None  # None when no alias matches
    requested: datetime
    expected: datetime | None
    closed: datetime | None  # the final closure; None while the ticket is open


def local_month(moment: datetime) -> date:
    return moment.astimezone(BANGKOK).date().replace(day=1)


def tickets(con: Any) -> tuple[list[Ticket], datetime]:
    """Every ticket's lifecycle from its observed states, and the latest state seen at all."""
    names = aliases()
    states = rows(
        con,
        "select service_request_id, updated_datetime, status, agency_responsible, "
        "requested_datetime, expected_datetime from raw.citizens_service_requests "
        "order by service_request_id, updated_datetime",
    )
    found = []
    for _, group in groupby(states, key=lambda state: state[0]):
        history = list(group)
        _, updated, status, agency, requested, expected = history[-1]
        closed = updated if status == "closed" else None
        found.append(Ticket(names.get(agency), requested, expected, closed))
    return found, max(state[1] for state in states)


def recomputed(con: Any) -> tuple[dict[Key, Figures], date]:
    """Every governance KPI value of the history, and the month with the most complaints."""
    found, latest = tickets(con)
    filed: dict[tuple[str, date], int] = defaultdict(int)
    per_month: dict[date, int] = defaultdict(int)
    closures: dict[date, list[Ticket]] = defaultdict(list)
    for ticket in found:
        month = local_month(ticket.requested)
        per_month[month] += 1
        if ticket.municipality is not None:
            filed[ticket.municipality, month] += 1
        if ticket.closed is not None:
            closures[local_month(ticket.closed)].append(ticket)
    months = months_between(min(per_month), max(max(per_month), local_month(latest)))
    totals = populations(con)
    expected: dict[Key, Figures] = {}
    for month in months:
        for municipality in municipalities():
            complaints = float(filed.get((municipality, month), 0))
            population = population_in(totals, municipality, month.year)
            denominator = None if population is None else float(population)
            value = complaints / denominator * 10_000 if denominator else None
            expected["GV01", municipality, month] = (complaints, denominator, value)
        closed = closures.get(month, [])
        within = sum(1 for t in closed if t.expected is not None and t.closed <= t.expected)
        share = within / len(closed) if closed else None
        expected["GV02", None, month] = (float(within), float(len(closed)), share)
        days = [(t.closed - t.requested).total_seconds() / 86_400 for t in closed]
        median = statistics.median(days) if days else None
        expected["GV03", None, month] = (None, float(len(closed)), median)
    busiest = max(per_month, key=per_month.__getitem__)
    return expected, busiest


@pytest.fixture(scope="module")
def governance(programme: Any) -> tuple[dict[Key, Figures], date, dict[Key, Figures]]:
    with programme.warehouse.read() as con:
        expected, busiest = recomputed(con)
        return expected, busiest, published(con, GOVERNANCE_KPIS)


def test_every_governance_kpi_has_every_municipality_its_grain_has(governance: Any) -> None:
    expected, _, table = governance
    assert {kpi for kpi, _, _ in expected} == set(GOVERNANCE_KPIS)
    assert_every_month_and_municipality(expected, table, by_municipality={"GV01"})


@pytest.mark.parametrize("kpi", GOVERNANCE_KPIS)
def test_governance_kpi_matches_the_raw_tables(governance: Any, kpi: str) -> None:
    expected, busiest, table = governance
    in_kpi = {key: figures for key, figures in expected.items() if key[0] == kpi}
    # the month with the most complaints has a value for every municipality (or city-wide)
    in_busiest = {key: figures for key, figures in in_kpi.items() if key[2] == busiest}
    assert in_busiest and all(figures[2] is not None for figures in in_busiest.values())
    for key, wanted in sorted(in_kpi.items(), key=str):
        actual = table.get(key)
        assert actual is not None, ("missing", key)
        assert all(same(a, w) for a, w in zip(actual, wanted, strict=True)), (key, actual, wanted)
