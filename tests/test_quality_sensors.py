"""The city sensors' data contract (suite ``city_sensor_uplinks``), met by the real flow.

Each bad-data knob of the ChirpStack relay emulator is switched on, ``city.sensors`` is ingested
through the flow with its Great Expectations gate, and the rows the knob spoilt must be the rows
set aside, for the expectation that states the broken rule; the rest loads, and every batch still
balances: rows received = rows loaded + rows quarantined.

The session's relay holds 30 days of uplinks (about 5,000 events): one page of 5,000 brings them in
one batch, so each test validates one batch. ``lag_hours`` is 30 here: the emulator's newest
uplink is from late yesterday (Bangkok), while the bundled 6 h is meant for the live network.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors import clock
from emulators.server import Emulator
from flows.config import Settings, load_settings
from flows.ingest import DatasetSummary, gate_for, ingest
from tests.support import write_config

pytestmark = pytest.mark.flow

DATASET = "city.sensors"
TABLE = "city_sensor_uplinks"
ONE_PAGE = {"city__sensors": {"page_size": 5000, "lag_hours": 30}}


def run(
    tmp_path: Path, emulators: dict[str, Emulator], **faults: Any
) -> tuple[DatasetSummary, Settings]:
    emulators["sensors"].faults.data.update(faults)
    config = write_config(tmp_path, emulators, **ONE_PAGE)
    [summary] = ingest(datasets=[DATASET], config=str(config), data_dir=str(tmp_path / "data"))
    return summary, load_settings(config, tmp_path / "data")


def query(settings: Settings, sql: str, *params: Any) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, list(params)).fetchall()


def expectation(settings: Settings, kind: str, subject: str) -> str:
    """The name the gate gives the suite's ``kind`` expectation whose name mentions ``subject``."""
    from expectations.gate import check_name

    names = [
        check_name(item.configuration)
        for item in gate_for(settings).suite(TABLE).expectations
        if item.expectation_type == kind and subject in check_name(item.configuration)
    ]
    assert len(names) == 1, names
    return names[0]


def quarantined(settings: Settings) -> list[tuple[int, dict[str, Any], str]]:
    """(row number, row as typed, reason) of every row the dataset set aside."""
    rows = query(
        settings,
        "select row_number, payload, reason from quarantine.rows "
        "where dataset = ? and table_name = ? order by row_number",
        DATASET,
        TABLE,
    )
    return [(number, json.loads(payload), reason) for number, payload, reason in rows]


def failed(settings: Settings) -> dict[str, tuple[str, int | None, str | None]]:
    """Per failed expectation: (severity, unexpected count, observed value)."""
    rows = query(
        settings,
        "select expectation, severity, unexpected_count, observed_value from audit.validations "
        "where dataset = ? and not success",
        DATASET,
    )
    return {name: (severity, count, observed) for name, severity, count, observed in rows}


def assert_balanced(summary: DatasetSummary, settings: Settings) -> None:
    batches = query(
        settings,
        "select status, rows_received, rows_loaded, rows_quarantined from audit.batches "
        "where dataset = ?",
        DATASET,
    )
    assert len(batches) == summary.batches
    for _status, received, loaded, set_aside in batches:
        assert received == loaded + set_aside
    assert summary.rows_received == summary.rows_loaded + summary.rows_quarantined
    [(in_quarantine,)] = query(
        settings, "select count(*) from quarantine.rows where dataset = ?", DATASET
    )
    assert in_quarantine == summary.rows_quarantined


def assert_row_level(
    summary: DatasetSummary, settings: Settings, set_aside: list[tuple[int, dict, str]]
) -> None:
    """The batch loaded with exactly these rows set aside: none of them is in raw."""
    assert summary.statuses == {"loaded": 1}
    assert summary.rows_quarantined == len(set_aside)
    assert_balanced(summary, settings)
    [(in_raw,)] = query(settings, f"select count(*) from raw.{TABLE}")
    assert in_raw == summary.rows_loaded > 4800
    ids = [row["deduplication_id"] for _, row, _ in set_aside]
    [(found,)] = query(
        settings, f"select count(*) from raw.{TABLE} where list_contains(?, deduplication_id)", ids
    )
    assert found == 0


def sentinel(row: dict[str, Any]) -> bool:
    return -1 in (row["pm25"], row["water_level_cm"])


def reasons(reason: str) -> set[str]:
    return set(reason.split("; "))


def test_clean_data_loads_in_full_and_passes_every_check(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators)

    assert summary.statuses == {"loaded": 1}
    assert summary.rows_quarantined == 0 and summary.rows_loaded > 0.97 * 30 * 14 * 12
    assert_balanced(summary, settings)
    assert failed(settings) == {}  # no critical check failed, and no warning either
    checked = query(
        settings,
        "select distinct expectation from audit.validations where dataset = ?",
        DATASET,
    )
    assert len(checked) == len(gate_for(settings).suite(TABLE).expectations)
    assert ("expect_column_max_to_be_between(time)",) in checked  # freshness was judged


def test_out_of_range_readings_and_coordinates_are_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators, out_of_range=4)

    between = "expect_column_values_to_be_between"
    pm25, water = expectation(settings, between, "(pm25)"), expectation(settings, between, "(water")
    latitude = expectation(settings, between, "(device_latitude)")
    longitude = expectation(settings, between, "(device_longitude)")
    set_aside = quarantined(settings)
    assert len(set_aside) == 4
    for _, row, reason in set_aside:
        if row["pm25"] == 5000:
            assert reason == pm25
        elif row["water_level_cm"] == 2500:
            assert reason == water
        else:  # latitude and longitude tags swapped: outside the province both ways
            assert row["device_latitude"] > 100 and row["device_longitude"] < 20
            assert reasons(reason) == {latitude, longitude}
    failures = failed(settings)
    assert failures[latitude][:2] == failures[longitude][:2] == ("critical", 2)
    assert sum(failures.get(name, ("", 0))[1] for name in (pm25, water)) == 2
    assert_row_level(summary, settings, set_aside)


def test_sentinel_readings_are_set_aside_per_device_profile(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    """-1 (sensor error) is out of range; a reading absent from its own profile is missing."""
    summary, settings = run(tmp_path, emulators, sentinel_readings=4)

    between = "expect_column_values_to_be_between"
    rows_rule = "unexpected_rows_expectation"
    out_of_range = {
        2: expectation(settings, between, "(pm25)"),
        3: expectation(settings, between, "(water_level_cm)"),
    }
    no_reading = {
        2: expectation(settings, rows_rule, "(fPort 2)"),
        3: expectation(settings, rows_rule, "(fPort 3)"),
    }
    set_aside = quarantined(settings)
    assert len(set_aside) == 4
    minus_one = [(row, reason) for _, row, reason in set_aside if sentinel(row)]
    absent = [(row, reason) for _, row, reason in set_aside if not sentinel(row)]
    assert len(minus_one) == len(absent) == 2
    for row, reason in minus_one:
        assert reason == out_of_range[row["f_port"]]
    for row, reason in absent:
        assert row["pm25"] is None and row["water_level_cm"] is None
        assert reason == no_reading[row["f_port"]]
    failures = failed(settings)
    assert sum(failures[name][1] for name in out_of_range.values() if name in failures) == 2
    assert {failures[name][0] for name in no_reading.values() if name in failures} == {"critical"}
    assert_row_level(summary, settings, set_aside)
    # the other profile's reading is legitimately null: nothing else was set aside
    [(nulls,)] = query(settings, f"select count(*) from raw.{TABLE} where pm25 is null")
    assert nulls > 0


def test_duplicate_deliveries_are_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    """Both copies of a key delivered twice go (the gate cannot tell which one is right)."""
    summary, settings = run(tmp_path, emulators, duplicate_rows=3)

    unique = expectation(settings, "expect_column_values_to_be_unique", "(deduplication_id)")
    set_aside = quarantined(settings)
    assert len(set_aside) == 6
    assert {reason for _, _, reason in set_aside} == {unique}
    numbers = [number for number, _, _ in set_aside]
    assert numbers[1::2] == [n + 1 for n in numbers[0::2]]  # delivered back to back
    ids = [row["deduplication_id"] for _, row, _ in set_aside]
    assert ids[0::2] == ids[1::2] and len(set(ids)) == 3
    assert failed(settings)[unique][:2] == ("critical", 6)
    assert_row_level(summary, settings, set_aside)


def test_unknown_municipality_codes_are_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators, unknown_codes=2)

    in_set = expectation(settings, "expect_column_values_to_be_in_set", "(municipality_id)")
    set_aside = quarantined(settings)
    assert [(row["municipality_id"], reason) for _, row, reason in set_aside] == [
        ("nam_phong", in_set)
    ] * 2
    assert failed(settings)[in_set][:2] == ("critical", 2)
    assert_row_level(summary, settings, set_aside)


def test_clock_skew_events_in_the_future_are_set_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators, clock_skew=2)

    skew = expectation(settings, "unexpected_rows_expectation", "network server received")
    set_aside = quarantined(settings)
    assert len(set_aside) == 2
    now = clock.now()  # the emulated network's calendar is the suite's
    horizon = now + timedelta(days=3000)
    for _, row, reason in set_aside:
        assert reason == skew
        assert datetime.fromisoformat(row["time"]) > horizon
        assert datetime.fromisoformat(row["ns_time"]) < now
    assert failed(settings)[skew][0] == "critical"
    assert_row_level(summary, settings, set_aside)
    [(watermark,)] = query(
        settings, "select value from audit.watermarks where dataset = ?", DATASET
    )
    assert datetime.fromisoformat(watermark.replace("Z", "+00:00")) < now


def test_a_missing_column_sets_the_whole_batch_aside(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators, missing_column="devEui")

    assert summary.statuses == {"rejected": 1}
    assert summary.rows_loaded == 0 and summary.rows_quarantined > 4800
    assert_balanced(summary, settings)
    [(status, detail, received, set_aside)] = query(
        settings,
        "select status, detail, rows_received, rows_quarantined from audit.batches "
        "where dataset = ?",
        DATASET,
    )
    assert status == "rejected" and received == set_aside
    assert "(dev_eui) failed (critical" in detail
    rows = quarantined(settings)
    assert len(rows) == received
    assert {reason for _, _, reason in rows} == {detail}
    assert [number for number, _, _ in rows] == list(range(1, received + 1))
    exists = expectation(settings, "expect_column_to_exist", "(dev_eui)")
    assert failed(settings)[exists][0] == "critical"
    raw_tables = query(
        settings,
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = ?",
        TABLE,
    )
    if raw_tables[0][0]:
        assert query(settings, f"select count(*) from raw.{TABLE}")[0][0] == 0
    # the watermark stays before the batch, so the next run tries it again
    assert query(settings, "select * from audit.watermarks where dataset = ?", DATASET) == []


def test_a_stale_feed_loads_and_fails_the_freshness_warning(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    summary, settings = run(tmp_path, emulators, stale_feed=True)

    assert summary.statuses == {"loaded": 1}
    assert summary.rows_quarantined == 0 and summary.rows_loaded > 0
    assert_balanced(summary, settings)
    freshness = expectation(settings, "expect_column_max_to_be_between", "(time)")
    failures = failed(settings)
    assert list(failures) == [freshness]
    severity, _, observed = failures[freshness]
    assert severity == "warning"
    newest = datetime.fromisoformat(json.loads(observed))
    assert clock.now() - newest > timedelta(days=2)
    [(in_raw,)] = query(settings, f"select count(*) from raw.{TABLE}")
    assert in_raw == summary.rows_loaded


def test_ndjson_without_fcnt_mixed_with_other_events_loads_in_full(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    """Valid shapes, not faults: NDJSON, uplinks without fCnt, join/status events in between.

    Every uplink loads with a null frame counter and no check fails; the other integration
    events are not rows but stay in the landed raw file.
    """
    summary, settings = run(tmp_path, emulators, shape="ndjson", omit_fcnt=True, other_events=True)

    assert set(summary.statuses) == {"loaded"}
    assert summary.rows_quarantined == 0 and summary.rows_loaded > 0.97 * 30 * 14 * 12
    assert_balanced(summary, settings)
    assert failed(settings) == {}
    [(loaded, with_counter, keys)] = query(
        settings,
        f"select count(*), count(f_cnt), count(distinct deduplication_id) from raw.{TABLE}",
    )
    assert (loaded, with_counter, keys) == (summary.rows_loaded, 0, summary.rows_loaded)
    landed = sorted((tmp_path / "data").rglob(f"{DATASET}/*/*.ndjson"))
    assert landed
    raw = b"".join(path.read_bytes() for path in landed)
    assert raw.count(b'"batteryLevelUnavailable"') > 30 * 14 * 0.9  # the status events
