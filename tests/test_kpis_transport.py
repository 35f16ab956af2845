"""Logistics & Transportation KPIs (TR01-TR05) recomputed straight from the raw tables.

The session's programme warehouse (``programme``: every flow and ``dbt build`` over the emulators,
30 days of history) holds ``marts.fct_kpi_values``. Here every transport KPI of the month with
the most tap-in days (its days for the day-grain KPIs, its year for the year-grain ones) is
computed again from ``raw.*`` alone, in Python and plain SQL, without any dbt model, and the
value, numerator and denominator of every municipality, route and day are compared.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import pytest

from connectors.base import BANGKOK
from emulators.synthetic import MUNICIPALITIES
from tests.support import TEST_CLOCK

pytestmark = pytest.mark.flow

MUNICIPALITY_IDS = {m.municipality_id for m in MUNICIPALITIES}
# Every spelling a source uses for a municipality: its id and both Thai names.
SPELLINGS = {
    name: m.municipality_id
    for m in MUNICIPALITIES
    for name in (m.municipality_id, m.name_th, m.name_th_variant)
}
EARTH_RADIUS_KM = 6371.0
ON_TIME_SECONDS = (-60, 300)  # -1 min .. +5 min, both ends inside

Figures = tuple[float | None, float | None, float | None]  # numerator, denominator, value


@pytest.fixture()
def con(programme: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    with programme.warehouse.read() as connection:
        yield connection


@pytest.fixture()
def month(con: duckdb.DuckDBPyConnection) -> date:
    """The month with the most service days of tap-ins (the later one on a tie)."""
    [(start,)] = con.execute(
        "select cast(date_trunc('month', service_date) as date) as month "
        "from raw.transit_ridership group by month "
        "order by count(distinct service_date) desc, month desc limit 1"
    ).fetchall()
    return start


def month_end(start: date) -> date:
    """The first day of the next month."""
    return (start + timedelta(days=32)).replace(day=1)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def published(kpi: str, grain: str, con: duckdb.DuckDBPyConnection, first: date, last: date):
    """{(municipality or route, period_start): (numerator, denominator, value)} of the mart."""
    rows = con.execute(
        "select coalesce(municipality_id, route_id), period_start, numerator, denominator, value "
        "from marts.fct_kpi_values "
        "where kpi_id = ? and period_grain = ? and period_start >= ? and period_start < ?",
        [kpi, grain, first, last],
    ).fetchall()
    figures = {(who, start): (num, den, value) for who, start, num, den, value in rows}
    assert len(figures) == len(rows), f"{kpi}: one row per period and municipality or route"
    return figures


def assert_same(kpi: str, expected: dict[Any, Figures], actual: dict[Any, Figures]) -> None:
    assert expected, f"{kpi}: nothing to compare"
    assert set(actual) == set(expected), f"{kpi}: rows differ"
    for key, figures in expected.items():
        names = ("numerator", "denominator", "value")
        for name, want, got in zip(names, figures, actual[key], strict=True):
            if want is None:
                assert got is None, (kpi, key, name, got)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (kpi, key, name, got, want)


def boardings(con: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[str, float]:
    """Tap-ins per municipality id in [first, last)."""
    totals: dict[str, float] = defaultdict(float)
    for municipality, tap_ins in con.execute(
        "select municipality_id, sum(tap_ins) from raw.transit_ridership "
        "where service_date >= ? and service_date < ? group by 1",
        [first, last],
    ).fetchall():
        totals[SPELLINGS[municipality]] += float(tap_ins)
    return dict(totals)


def communities(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, float, float, float]]:
    """(municipality id, CE year, population, latitude, longitude) of every community."""
    rows = con.execute(
        "select municipality, year_ce, population, latitude, longitude from raw.city_population"
    ).fetchall()
    return [(SPELLINGS[m], year, float(pop), lat, lon) for m, year, pop, lat, lon in rows]


def population_year(rows: list[tuple], municipality: str, year: int) -> int | None:
    """The latest year up to ``year`` for which the municipality's population was published."""
    years = [y for m, y, *_ in rows if m == municipality and y <= year]
    return max(years) if years else None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def realtime_days(con: duckdb.DuckDBPyConnection, month: date) -> list[date]:
    """Service days of the month with GTFS-RT data that had ended when the programme ran."""
    days = [
        day
        for (day,) in con.execute(
            "select distinct start_date from raw.transit_gtfs_rt_trip_updates "
            "where start_date >= ? and start_date < ? order by 1",
            [month, month_end(month)],
        ).fetchall()
        if day < TEST_CLOCK.today
    ]
    assert days, f"GTFS-RT archive has days in {month:%Y-%m}"
    return days


def test_tr01_boardings_per_municipality_month(con: duckdb.DuckDBPyConnection, month: date):
    totals = boardings(con, month, month_end(month))
    expected = {(m, month): (totals.get(m), None, totals.get(m)) for m in MUNICIPALITY_IDS}
    assert all(num is not None for num, _, _ in expected.values()), "every municipality has data"
    assert_same("TR01", expected, published("TR01", "month", con, month, month_end(month)))


def test_tr02_boardings_per_inhabitant_per_year(con: duckdb.DuckDBPyConnection, month: date):
    year = date(month.year, 1, 1)
    totals = boardings(con, year, date(month.year + 1, 1, 1))
    rows = communities(con)
    expected = {}
    for m in MUNICIPALITY_IDS:
        published_year = population_year(rows, m, month.year)
        population = (
            sum(pop for mm, y, pop, *_ in rows if mm == m and y == published_year)
            if published_year
            else None
        )
        expected[(m, year)] = (totals.get(m), population, ratio(totals.get(m), population))
    assert_same("TR02", expected, published("TR02", "year", con, year, year + timedelta(days=1)))


def test_tr03_on_time_performance_per_route_day(con: duckdb.DuckDBPyConnection, month: date):
    days = realtime_days(con, month)
    routes = [r for (r,) in con.execute("select route_id from raw.transit_gtfs_routes").fetchall()]
    calls = con.execute(
        "select st.trip_id, st.stop_sequence, st.stop_id, t.route_id, st.arrival_time_seconds "
        "from raw.transit_gtfs_stop_times as st "
        "join raw.transit_gtfs_trips as t on t.trip_id = st.trip_id"
    ).fetchall()
    schedule = {
        (trip, sequence): (route, seconds)
        for trip, sequence, _, route, seconds in calls
        if seconds is not None
    }
    visits = Counter((trip, stop) for trip, _, stop, _, _ in calls)
    sequence_of = {(trip, stop): sequence for trip, sequence, stop, _, _ in calls}
    updates = con.execute(
        "select trip_id, start_date, stop_sequence, stop_id, epoch(arrival_time), arrival_delay, "
        "is_predicted, schedule_relationship "
        "from raw.transit_gtfs_rt_trip_updates where start_date >= ? and start_date < ?",
        [month, month_end(month)],
    ).fetchall()
    on_time: dict[tuple[str, date], int] = defaultdict(int)
    observed: dict[tuple[str, date], int] = defaultdict(int)
    after_midnight = 0
    for trip, day, sequence, stop, arrived, delay, predicted, relationship in updates:
        if predicted or relationship not in ("SCHEDULED", None):
            continue  # a prediction, or a stop not served as planned
        if trip is None or (arrived is None and delay is None):
            continue  # a trip given by route, or no arrival: nothing to judge
        if sequence is None and visits[(trip, stop)] == 1:
            sequence = sequence_of[(trip, stop)]  # a stop named by stop_id alone
        if (trip, sequence) not in schedule:
            continue
        route, seconds = schedule[(trip, sequence)]
        midnight = datetime.combine(day, time(0), tzinfo=BANGKOK)  # of the trip's service day
        scheduled = (midnight + timedelta(seconds=seconds)).timestamp()
        actual = arrived if arrived is not None else scheduled + delay
        observed[(route, day)] += 1
        if ON_TIME_SECONDS[0] <= actual - scheduled <= ON_TIME_SECONDS[1]:
            on_time[(route, day)] += 1
        if datetime.fromtimestamp(actual, UTC).astimezone(BANGKOK).date() > day:
            after_midnight += 1
    assert after_midnight, "some arrivals of a service day fall after midnight"
    expected = {
        (route, day): (
            float(on_time[(route, day)]),
            float(observed[(route, day)]),
            ratio(on_time[(route, day)], observed[(route, day)]),
        )
        for route in routes
        for day in days
    }
    assert_same("TR03", expected, published("TR03", "day", con, month, month_end(month)))


def test_tr04_stops_with_realtime_information(con: duckdb.DuckDBPyConnection, month: date):
    days = realtime_days(con, month)
    feed = {
        stop
        for (stop,) in con.execute(
            "select stop_id from raw.transit_gtfs_stops where coalesce(location_type, 0) = 0"
        ).fetchall()
    }
    seen: dict[date, set[str]] = defaultdict(set)
    for day, stop in con.execute(
        "select start_date, stop_id from raw.transit_gtfs_rt_trip_updates "
        "where start_date >= ? and start_date < ?",
        [month, month_end(month)],
    ).fetchall():
        if stop in feed:
            seen[day].add(stop)
    expected = {
        (None, day): (float(len(seen[day])), float(len(feed)), ratio(len(seen[day]), len(feed)))
        for day in days
    }
    assert_same("TR04", expected, published("TR04", "day", con, month, month_end(month)))


def test_tr05_population_within_500m_of_a_stop(con: duckdb.DuckDBPyConnection, month: date):
    year = date(month.year, 1, 1)
    [(first, last)] = con.execute(
        "select min(start_date), max(end_date) from raw.transit_gtfs_calendar"
    ).fetchall()
    assert first.year <= month.year <= last.year, "the feed runs in the year compared"
    stops = con.execute(
        "select stop_lat, stop_lon from raw.transit_gtfs_stops "
        "where coalesce(location_type, 0) = 0 and stop_lat is not null and stop_lon is not null"
    ).fetchall()
    rows = communities(con)
    expected = {}
    for m in MUNICIPALITY_IDS:
        published_year = population_year(rows, m, month.year)
        mine = [(pop, lat, lon) for mm, y, pop, lat, lon in rows if mm == m and y == published_year]
        population = sum(pop for pop, _, _ in mine) if published_year else None
        covered = (
            sum(
                pop
                for pop, lat, lon in mine
                if lat is not None
                and min(haversine_km(lat, lon, s_lat, s_lon) for s_lat, s_lon in stops) <= 0.5
            )
            if published_year
            else None
        )
        expected[(m, year)] = (covered, population, ratio(covered, population))
    assert any(value for _, _, value in expected.values()), "some communities lie near a stop"
    assert_same("TR05", expected, published("TR05", "year", con, year, year + timedelta(days=1)))


def test_every_transport_kpi_has_every_municipality_or_route(con: duckdb.DuckDBPyConnection):
    routes = {r for (r,) in con.execute("select route_id from raw.transit_gtfs_routes").fetchall()}
    found = con.execute(
        "select kpi_id, period_grain, list(distinct municipality_id), list(distinct route_id) "
        "from marts.fct_kpi_values where kpi_id like 'TR%' group by 1, 2"
    ).fetchall()
    grains = {kpi: grain for kpi, grain, _, _ in found}
    assert grains == {"TR01": "month", "TR02": "year", "TR03": "day", "TR04": "day", "TR05": "year"}
    for kpi, _, municipalities, route_ids in found:
        municipalities = {m for m in municipalities if m is not None}
        route_ids = {r for r in route_ids if r is not None}
        if kpi in {"TR01", "TR02", "TR05"}:
            assert municipalities == MUNICIPALITY_IDS and not route_ids, kpi
        elif kpi == "TR03":
            assert route_ids == routes and not municipalities, kpi
        else:
            assert not municipalities and not route_ids, kpi
