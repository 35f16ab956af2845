"""KKTS's data contracts, enforced by the GX gate in the real flow against the real emulator.

Each bad-data knob of the transit emulator is met by the expectation of the suite that states the
broken rule (``expectations/gx/expectations/transit_*.json``): the rows it names are set aside in
``quarantine.rows`` with that expectation as reason; a drifted column sets the whole batch aside
(for the GTFS zip: the whole feed); a stale ridership API is reported but loaded, and a stale
GTFS-RT feed is recorded as ``stale`` by the loader. The other valid shapes (the emulator's
``shape`` knob, a GTFS-RT feed without stop_sequence) load in full and pass every check.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors import clock, transit_gtfs, transit_gtfs_rt, transit_ridership
from connectors.registry import connector_for
from emulators.server import Emulator
from expectations.gate import Gate
from flows.config import Settings, load_settings
from flows.ingest import DatasetSummary, ingest
from tests.support import write_config
from warehouse.validation import Checks

pytestmark = pytest.mark.flow

GTFS, RT, RIDERSHIP = "transit.gtfs", "transit.gtfs_rt", "transit.ridership"
TABLES = {
    GTFS: transit_gtfs.TABLES,
    RT: transit_gtfs_rt.TABLES,
    RIDERSHIP: transit_ridership.TABLES,
}
ROWS = "unexpected_rows_expectation"  # named after its description by the gate
# Keep the runs small: the live GTFS-RT feeds only (no month of archive), three days of tap-ins.
FAST = {
    "transit__gtfs_rt": {"options": {"archive_days": 0}},
    "transit__ridership": {"options": {"history_days": 3}},
}


def run(
    tmp_path: Path, emulators: dict[str, Emulator], *datasets: str, **overrides: dict
) -> tuple[dict[str, DatasetSummary], Settings]:
    config = write_config(tmp_path, emulators, **{**FAST, **overrides})
    summaries = ingest(datasets=list(datasets), config=str(config), data_dir=str(tmp_path / "data"))
    return {s.dataset: s for s in summaries}, load_settings(config, tmp_path / "data")


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def quarantined(settings: Settings, dataset: str) -> list[tuple[str, int, set[str], str]]:
    """(table, row number, reasons, payload) of every row set aside from ``dataset``."""
    rows = query(
        settings,
        "select table_name, row_number, reason, payload from quarantine.rows where dataset = ? "
        "order by table_name, batch_id, row_number",
        [dataset],
    )
    return [
        (table, number, set(reason.split("; ")), payload) for table, number, reason, payload in rows
    ]


def failed(settings: Settings, dataset: str) -> dict[tuple[str, str], tuple[str, int | None]]:
    """Per failed (table, expectation): its severity and how many rows failed (largest count).

    A row-naming ``unexpected_rows_expectation`` reports its count as the observed value.
    """
    rows = query(
        settings,
        "select table_name, expectation, severity, "
        "max(coalesce(unexpected_count, try_cast(observed_value as bigint))) "
        "from audit.validations "
        "where dataset = ? and not success group by all",
        [dataset],
    )
    return {(table, name): (severity, count) for table, name, severity, count in rows}


def raw_rows(settings: Settings, dataset: str, batch_id: str | None = None) -> int:
    """Rows of ``dataset`` in ``raw`` (of one batch, if given); 0 for tables never created."""
    existing = {
        name
        for (name,) in query(
            settings,
            "select table_name from information_schema.tables where table_schema = 'raw'",
        )
    }
    total = 0
    for table in TABLES[dataset]:
        if table.name in existing:
            where, params = ("where _batch_id = ?", [batch_id]) if batch_id else ("", [])
            total += query(settings, f"select count(*) from raw.{table.name} {where}", params)[0][0]
    return total


def assert_accounted(settings: Settings, dataset: str, summary: DatasetSummary) -> None:
    """rows received = loaded + quarantined, per batch; the warehouse holds exactly those rows."""
    assert summary.rows_received == summary.rows_loaded + summary.rows_quarantined
    batches = query(
        settings,
        "select batch_id, rows_received, rows_loaded, rows_quarantined from audit.batches "
        "where dataset = ?",
        [dataset],
    )
    assert len(batches) == summary.batches
    for batch_id, received, loaded, held in batches:
        assert received == loaded + held
        [(in_quarantine,)] = query(
            settings, "select count(*) from quarantine.rows where batch_id = ?", [batch_id]
        )
        assert in_quarantine == held
    assert raw_rows(settings, dataset) == summary.rows_loaded  # one run, keys unique


def assert_batch_set_aside(
    settings: Settings, dataset: str, summary: DatasetSummary, table: str, column: str
) -> None:
    """The first batch failed ``expect_column_to_exist(column)``: all quarantined, none in raw."""
    assert summary.statuses == {"rejected": 1}  # the run stops at a rejected batch
    [(batch_id, status, received, loaded, held, detail)] = query(
        settings,
        "select batch_id, status, rows_received, rows_loaded, rows_quarantined, detail "
        "from audit.batches where dataset = ?",
        [dataset],
    )
    assert status == "rejected" and loaded == 0 and held == received > 0
    assert column in detail and "failed (critical" in detail
    assert raw_rows(settings, dataset, batch_id) == 0
    reasons = query(
        settings, "select distinct reason from quarantine.rows where dataset = ?", [dataset]
    )
    assert reasons == [(detail,)]  # every row, with the failure that sank the batch
    assert failed(settings, dataset)[(table, f"expect_column_to_exist({column})")][0] == "critical"
    assert_accounted(settings, dataset, summary)


# --------------------------------------------------------------------------- clean data


def test_clean_transit_data_loads_in_full_and_passes_every_check(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summaries, settings = run(tmp_path, emulators, GTFS, RT, RIDERSHIP)

    for dataset, summary in summaries.items():
        assert summary.rows_loaded > 0 and summary.rows_quarantined == 0, dataset
        assert set(summary.statuses) == {"loaded"}, dataset
        assert failed(settings, dataset) == {}, dataset  # no critical failure, no warning either
        assert_accounted(settings, dataset, summary)
    checked = query(settings, "select distinct dataset, table_name from audit.validations")
    with_rows = {
        (dataset, table.name)
        for dataset in (GTFS, RT, RIDERSHIP)
        for table in connector_for(dataset).TABLES
        if query(settings, f"select count(*) from raw.{table.name}")[0][0] > 0
    }
    assert set(checked) == with_rows  # every table that received rows was checked
    assert len([t for d, t in with_rows if d == GTFS]) >= 7  # calendar_dates is optional
    judged_now = {  # checked on each dataset's last batch only (scope "latest")
        GTFS: f"{ROWS}(the timetable is still in force)",
        RT: "expect_column_max_to_be_between(feed_timestamp)",
        RIDERSHIP: "expect_column_max_to_be_between(service_date)",
    }
    for dataset, name in judged_now.items():
        [(count, passed)] = query(
            settings,
            "select count(*), bool_and(success) from audit.validations "
            "where dataset = ? and expectation = ?",
            [dataset, name],
        )
        assert (count, passed) == (1, True), dataset


# --------------------------------------------------------------------------- GTFS static


def test_a_valid_feed_from_elsewhere_passes_every_critical_check(tmp_path: Path) -> None:
    """Any valid GTFS zip may be loaded by hand: the Khon Kaen rules bind Khon Kaen feeds only."""
    from tests.test_cli import FOREIGN_FEED, zipped

    feed = zipped(
        {
            **FOREIGN_FEED,  # Lisbon, calendar_dates only; plus a calendar that has run out
            "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,"
            "sunday,start_date,end_date\nWKD,1,1,1,1,1,0,0,20240101,20241231\n",
        },
        tmp_path / "lisbon.zip",
    )
    parsed = transit_gtfs.parse(feed.read_bytes())
    gate = Gate(tmp_path / "gx")
    checks = Checks("b", None, datetime.now(UTC) - timedelta(hours=2200))

    outcomes = [
        outcome
        for table in transit_gtfs.TABLES
        for outcome in gate(table, parsed.rows.get(table.name, []), set(), checks)
    ]

    assert parsed.rejects == [] and parsed.missing == {}
    failures = {(o.table, o.expectation, o.severity) for o in outcomes if not o.success}
    assert failures == {
        ("transit_gtfs_calendar", f"{ROWS}(the timetable is still in force)", "warning"),
        ("transit_gtfs_stops", "expect_column_median_to_be_between(stop_lat)", "warning"),
        ("transit_gtfs_stops", "expect_column_median_to_be_between(stop_lon)", "warning"),
        ("transit_gtfs_agency", "expect_column_values_to_be_in_set(agency_timezone)", "warning"),
    }


def test_gtfs_stop_outside_khon_kaen_is_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["out_of_range"] = 1
    summaries, settings = run(tmp_path, emulators, GTFS)

    rule = f"{ROWS}(in a Khon Kaen feed every stop lies in Khon Kaen province)"
    [(table, _, reasons, payload)] = quarantined(settings, GTFS)
    assert (table, reasons) == ("transit_gtfs_stops", {rule}) and "13.7563" in payload
    assert failed(settings, GTFS) == {("transit_gtfs_stops", rule): ("critical", 1)}
    assert summaries[GTFS].statuses == {"loaded": 1}
    [(outside,)] = query(
        settings, "select count(*) from raw.transit_gtfs_stops where stop_lat < 15.6"
    )
    assert outside == 0
    assert_accounted(settings, GTFS, summaries[GTFS])


def test_gtfs_unknown_route_type_is_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["unknown_codes"] = 1
    summaries, settings = run(tmp_path, emulators, GTFS)

    rule = "expect_column_values_to_be_in_set(route_type)"
    [(table, _, reasons, payload)] = quarantined(settings, GTFS)
    assert (table, reasons) == ("transit_gtfs_routes", {rule}) and '"route_type": 42' in payload
    assert failed(settings, GTFS) == {("transit_gtfs_routes", rule): ("critical", 1)}
    assert (
        query(settings, "select route_type from raw.transit_gtfs_routes where route_type = 42")
        == []
    )
    assert_accounted(settings, GTFS, summaries[GTFS])


def test_gtfs_duplicate_stop_times_are_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["duplicate_rows"] = 2
    summaries, settings = run(tmp_path, emulators, GTFS)

    rule = "expect_compound_columns_to_be_unique(trip_id, stop_sequence)"
    rows = quarantined(settings, GTFS)
    assert len(rows) == 4  # both copies of each duplicated (trip_id, stop_sequence)
    assert {(table, frozenset(reasons)) for table, _, reasons, _ in rows} == {
        ("transit_gtfs_stop_times", frozenset({rule}))
    }
    assert failed(settings, GTFS) == {("transit_gtfs_stop_times", rule): ("critical", 4)}
    [(dupes,)] = query(
        settings,
        "select count(*) from (select trip_id, stop_sequence from raw.transit_gtfs_stop_times "
        "group by all having count(*) > 1)",
    )
    assert dupes == 0
    assert_accounted(settings, GTFS, summaries[GTFS])


def test_gtfs_drifted_stop_lat_sets_the_whole_feed_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["missing_column"] = "stop_lat"
    summaries, settings = run(tmp_path, emulators, GTFS)

    assert_batch_set_aside(settings, GTFS, summaries[GTFS], "transit_gtfs_stops", "stop_lat")
    tables = {table for table, *_ in quarantined(settings, GTFS)}
    assert len(tables) == 7  # every file of the feed, not only stops.txt (no calendar_dates)


def test_gtfs_missing_required_column_is_a_malformed_feed(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["missing_column"] = "stop_sequence"
    summaries, settings = run(tmp_path, emulators, GTFS)

    assert summaries[GTFS].statuses == {"rejected": 1}
    [(table, number, _, payload)] = quarantined(settings, GTFS)
    assert (table, number) == (None, 0)  # the feed as a whole, not a row of a table
    [(reason,)] = query(settings, "select reason from quarantine.rows")
    assert reason == (  # one line: the rule, what is wrong, the fix
        "unparseable response: GTFS requires column 'stop_sequence' in stop_times.txt (GTFS "
        "Schedule reference, 'stop_times.txt'): its header has no such column; add "
        "stop_sequence to the header and to every row"
    )
    assert payload.endswith(".zip>")
    assert raw_rows(settings, GTFS) == 0
    assert query(settings, "select count(*) from audit.validations")[0][0] == 0  # not parsed
    assert_accounted(settings, GTFS, summaries[GTFS])


# --------------------------------------------------------------------------- GTFS-Realtime


@pytest.mark.parametrize(
    ("knob", "expected"),
    [
        (
            "out_of_range",
            {
                "transit_gtfs_rt_trip_updates": {
                    "expect_column_values_to_be_between(arrival_delay)"
                },
                "transit_gtfs_rt_vehicle_positions": {
                    "expect_column_values_to_be_between(latitude)",
                    "expect_column_values_to_be_between(longitude)",
                },
            },
        ),
        (
            "unknown_codes",
            {
                "transit_gtfs_rt_trip_updates": {f"{ROWS}(stop_id is a KKTS stop code)"},
                "transit_gtfs_rt_vehicle_positions": {f"{ROWS}(route_id is a KKTS route code)"},
            },
        ),
        (
            "duplicate_rows",
            {
                "transit_gtfs_rt_trip_updates": {
                    "expect_compound_columns_to_be_unique(trip_key, stop_key, is_predicted)"
                },
                "transit_gtfs_rt_vehicle_positions": {
                    "expect_compound_columns_to_be_unique(vehicle_key, observed_at)"
                },
            },
        ),
    ],
)
def test_realtime_bad_rows_are_set_aside_by_the_matching_expectation(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    knob: str,
    expected: dict[str, set[str]],
) -> None:
    emulators["transit"].faults.data[knob] = 1
    summaries, settings = run(tmp_path, emulators, RT)

    copies = 2 if knob == "duplicate_rows" else 1  # both copies of a duplicated key go
    rows = quarantined(settings, RT)
    for table, rules in expected.items():
        mine = [reasons for name, _, reasons, _ in rows if name == table]
        assert mine == [rules] * copies, table
        for rule in rules:
            assert failed(settings, RT)[(table, rule)] == ("critical", copies)
    assert {table for table, _ in failed(settings, RT)} == set(expected)
    assert summaries[RT].statuses == {"loaded": 2}
    assert_accounted(settings, RT, summaries[RT])


def test_realtime_without_stop_sequence_or_with_the_minimal_shape_loads_in_full(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    """GTFS-RT lets a feed name stops by stop_id alone, trips by route, and leave out times:
    protobuf cannot tell such a feed from a drifted one, and it is valid, so it loads."""
    (tmp_path / "by_stop").mkdir()
    (tmp_path / "minimal").mkdir()
    emulators["transit"].faults.data["missing_column"] = "stop_sequence"
    summaries, settings = run(tmp_path / "by_stop", emulators, RT)

    assert summaries[RT].statuses == {"loaded": 2} and summaries[RT].rows_quarantined == 0
    assert failed(settings, RT) == {}
    [(updates, sequences, by_stop)] = query(
        settings,
        "select count(*), count(stop_sequence), count(*) filter (where stop_key like 'stop %') "
        "from raw.transit_gtfs_rt_trip_updates",
    )
    assert updates > 0 and sequences == 0 and by_stop == updates
    assert_accounted(settings, RT, summaries[RT])

    emulators["transit"].faults.data.clear()
    emulators["transit"].faults.data["shape"] = "minimal"
    summaries, settings = run(tmp_path / "minimal", emulators, RT)

    assert summaries[RT].statuses == {"loaded": 2} and summaries[RT].rows_quarantined == 0
    assert failed(settings, RT) == {}
    [(updates, with_trip_id)] = query(
        settings, "select count(*), count(trip_id) from raw.transit_gtfs_rt_trip_updates"
    )
    [(vehicles, with_time)] = query(
        settings,
        "select count(*), count(position_timestamp) from raw.transit_gtfs_rt_vehicle_positions",
    )
    assert updates > 0 and vehicles > 0 and with_trip_id == with_time == 0
    assert_accounted(settings, RT, summaries[RT])


def test_gtfs_minimal_shape_loads_and_empties_calendar_and_feed_info(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    first, settings = run(tmp_path, emulators, GTFS)
    emulators["transit"].faults.data["shape"] = "minimal"
    second, _ = run(tmp_path, emulators, GTFS)

    assert first[GTFS].statuses == second[GTFS].statuses == {"loaded": 1}
    assert failed(settings, GTFS) == {}
    counts = {
        table.name: query(settings, f"select count(*) from raw.{table.name}")[0][0]
        for table in transit_gtfs.TABLES
    }
    assert counts["transit_gtfs_calendar"] == counts["transit_gtfs_feed_info"] == 0
    assert counts["transit_gtfs_calendar_dates"] > 365
    summary = second[GTFS]
    assert summary.rows_received == summary.rows_loaded and summary.rows_quarantined == 0
    assert raw_rows(settings, GTFS) == summary.rows_loaded  # the new feed alone, nothing left over


def test_stale_realtime_feed_is_recorded_stale_and_not_reloaded(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["stale_feed"] = True
    first, settings = run(tmp_path, emulators, RT)
    second, _ = run(tmp_path, emulators, RT)

    assert first[RT].statuses == {"loaded": 2} and first[RT].rows_loaded > 0
    assert second[RT].statuses == {"stale": 2} and second[RT].rows_received == 0
    details = query(settings, "select detail from audit.batches where status = 'stale'")
    assert len(details) == 2 and all(d.startswith("header timestamp ") for (d,) in details)
    assert failed(settings, RT) == {}  # the frozen feed was fresh when first loaded
    [(loaded,)] = query(settings, "select count(*) from audit.batches where status = 'loaded'")
    assert loaded == 2  # and it was not loaded again


# --------------------------------------------------------------------------- ridership


@pytest.mark.parametrize(
    ("knob", "rule", "per_page"),
    [
        ("out_of_range", "expect_column_values_to_be_between(tap_ins)", 1),
        ("unknown_codes", "expect_column_values_to_be_in_set(fare_product)", 1),
        (
            "duplicate_rows",
            "expect_compound_columns_to_be_unique(service_date, municipality_id, route_id, "
            "fare_product)",
            2,
        ),
    ],
)
def test_ridership_bad_rows_are_set_aside_by_the_matching_expectation(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    knob: str,
    rule: str,
    per_page: int,
) -> None:
    emulators["transit"].faults.data[knob] = 1
    summaries, settings = run(tmp_path, emulators, RIDERSHIP)

    summary = summaries[RIDERSHIP]
    assert summary.statuses == {"loaded": summary.batches} and summary.batches >= 6
    rows = quarantined(settings, RIDERSHIP)
    assert len(rows) == per_page * summary.batches  # the knob hits every page
    assert {(table, frozenset(reasons)) for table, _, reasons, _ in rows} == {
        ("transit_ridership", frozenset({rule}))
    }
    assert failed(settings, RIDERSHIP) == {("transit_ridership", rule): ("critical", per_page)}
    [(bad,)] = query(
        settings,
        "select count(*) from raw.transit_ridership where tap_ins < 0 "
        "or fare_product not in ('adult', 'student', 'senior', 'child')",
    )
    assert bad == 0
    assert_accounted(settings, RIDERSHIP, summary)


def test_ridership_drifted_field_sets_the_page_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["missing_column"] = "fare_product"
    summaries, settings = run(tmp_path, emulators, RIDERSHIP)

    assert_batch_set_aside(
        settings, RIDERSHIP, summaries[RIDERSHIP], "transit_ridership", "fare_product"
    )
    assert query(settings, "select * from audit.watermarks") == []  # tried again next run


def test_stale_ridership_is_reported_by_the_freshness_warning_and_loaded(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["stale_feed"] = True
    week = {"transit__ridership": {"options": {"history_days": 7}}}
    summaries, settings = run(tmp_path, emulators, RIDERSHIP, **week)

    summary = summaries[RIDERSHIP]
    assert summary.statuses == {"loaded": summary.batches} and summary.rows_quarantined == 0
    rule = "expect_column_max_to_be_between(service_date)"
    assert failed(settings, RIDERSHIP) == {("transit_ridership", rule): ("warning", None)}
    [(observed,)] = query(
        settings,
        "select observed_value from audit.validations where expectation = ? and not success",
        [rule],
    )
    yesterday = clock.today() - timedelta(days=1)
    newest = yesterday - timedelta(days=3)  # the API stopped three days before yesterday
    assert date.fromisoformat(observed.strip('"')[:10]) == newest
    [(loaded_newest,)] = query(settings, "select max(service_date) from raw.transit_ridership")
    assert loaded_newest == newest
    assert_accounted(settings, RIDERSHIP, summary)
