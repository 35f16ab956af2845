"""Landing and loading against a real DuckDB file: upserts, quarantine, change detection."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from connectors.base import Page, Parsed, ParseError, Table
from warehouse.audit import dataset_status
from warehouse.db import Warehouse
from warehouse.ingest import ingest_page
from warehouse.landing import land, manifest_rows
from warehouse.loader import load_batch
from warehouse.validation import Checks

READINGS = Table(
    name="test_readings",
    columns={"station": "VARCHAR", "day": "DATE", "value": "DOUBLE", "note": "VARCHAR"},
    key=("station", "day"),
)


def parse(content: bytes) -> Parsed:
    try:
        records = json.loads(content)
    except json.JSONDecodeError as error:
        raise ParseError(f"invalid JSON at char {error.pos}") from None
    parsed = Parsed(version=None)
    READINGS.collect(enumerate(records, 1), parsed)
    return parsed


CONNECTOR = SimpleNamespace(DATASET="test.readings", TABLES=(READINGS,), parse=parse)


def page(records: object, url: str = "http://s.test/readings?page=1") -> Page:
    body = records if isinstance(records, bytes) else json.dumps(records).encode()
    return Page(url=url, content=body, extension="json", received_at=datetime.now(UTC))


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "data")


def rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.read() as con:
        return con.execute(sql).fetchall()


def test_bad_rows_are_quarantined_with_reason_and_the_rest_loaded(warehouse: Warehouse) -> None:
    result = ingest_page(
        warehouse,
        CONNECTOR,
        "test.readings",
        page(
            [
                {"station": "KK1", "day": "2026-01-01", "value": "1,250.5"},
                {"station": "KK1", "day": "2026-01-02", "value": "n/a"},
                {"station": None, "day": "2026-01-03", "value": 3},
            ]
        ),
        "run-1",
    )
    assert (result.status, result.rows_received, result.rows_loaded) == ("loaded", 3, 1)
    assert rows(warehouse, "select station, value, _batch_id from raw.test_readings") == [
        ("KK1", 1250.5, result.batch_id)
    ]
    quarantined = rows(
        warehouse, "select row_number, reason, payload from quarantine.rows order by row_number"
    )
    assert [(n, reason) for n, reason, _ in quarantined] == [
        (2, "column 'value': could not convert string to float: 'n/a'"),
        (3, "column 'station': key is missing"),
    ]
    assert json.loads(quarantined[0][2])["value"] == "n/a"


def test_upsert_replaces_same_key_and_rerun_adds_no_duplicates(warehouse: Warehouse) -> None:
    first = [{"station": "KK1", "day": "2026-01-01", "value": 1}]
    ingest_page(warehouse, CONNECTOR, "test.readings", page(first), None)
    corrected = [
        {"station": "KK1", "day": "2026-01-01", "value": 2},
        {"station": "KK2", "day": "2026-01-01", "value": 5},
    ]
    ingest_page(warehouse, CONNECTOR, "test.readings", page(corrected, url="http://s.test/b"), None)
    again = ingest_page(
        warehouse, CONNECTOR, "test.readings", page(corrected, url="http://s.test/b"), None
    )
    assert again.status == "unchanged" and again.rows_loaded == 0
    assert rows(warehouse, "select station, value from raw.test_readings order by 1") == [
        ("KK1", 2.0),
        ("KK2", 5.0),
    ]


def test_unparseable_response_is_one_quarantined_document(warehouse: Warehouse) -> None:
    result = ingest_page(
        warehouse, CONNECTOR, "test.readings", page(b'[{"station": "KK1", "da'), None
    )
    assert (result.status, result.rows_received, result.rows_quarantined) == ("rejected", 1, 1)
    [(number, reason, payload)] = rows(
        warehouse, "select row_number, reason, payload from quarantine.rows"
    )
    assert number == 0 and "invalid JSON at char" in reason and "kept at raw/" in payload
    assert rows(
        warehouse, "select count(*) from information_schema.tables where table_schema = 'raw'"
    ) == [(0,)]


def test_manifest_matches_every_landed_file_and_files_are_read_only(warehouse: Warehouse) -> None:
    for n in range(3):
        ingest_page(
            warehouse,
            CONNECTOR,
            "test.readings",
            page([{"station": f"S{n}", "day": "2026-01-01", "value": n}], url=f"http://s/{n}"),
            None,
        )
    manifest = manifest_rows(warehouse.raw_dir, "test.readings")
    assert len(manifest) == 3
    for entry in manifest:
        content = (warehouse.raw_dir / entry.path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry.sha256
        assert len(content) == entry.bytes
        assert (warehouse.raw_dir / entry.path).stat().st_mode & 0o222 == 0
    audited = rows(warehouse, "select raw_path, sha256 from audit.batches order by batch_id")
    assert audited == [(f"raw/{e.path}", e.sha256) for e in manifest]


def test_tampered_raw_file_is_refused(warehouse: Warehouse) -> None:
    landed = land(warehouse.raw_dir, "test.readings", page([]))
    target = warehouse.raw_dir / landed.path
    os.chmod(target, 0o644)
    target.write_bytes(b"[]   ")
    with pytest.raises(ValueError, match="the landing zone was changed after receipt"):
        load_batch(warehouse, CONNECTOR, landed, None)


def test_declared_version_that_did_not_move_is_stale(warehouse: Warehouse) -> None:
    def versioned(content: bytes) -> Parsed:
        parsed = parse(content)
        parsed.version = "1764115200"
        return parsed

    feed = SimpleNamespace(TABLES=(READINGS,), parse=versioned)
    first = ingest_page(
        warehouse,
        feed,
        "test.feed",
        page([{"station": "A", "day": "2026-01-01", "value": 1}]),
        None,
    )
    second = ingest_page(
        warehouse,
        feed,
        "test.feed",
        page([{"station": "A", "day": "2026-01-01", "value": 9}]),
        None,
    )
    assert (first.status, second.status) == ("loaded", "stale")
    assert "header timestamp 1764115200" in second.detail
    assert rows(warehouse, "select value from raw.test_readings") == [(1.0,)]


def test_new_connector_column_is_added_to_an_existing_table(warehouse: Warehouse) -> None:
    ingest_page(warehouse, CONNECTOR, "test.readings", page([]), None)
    wider = Table(READINGS.name, {**READINGS.columns, "unit": "VARCHAR"}, READINGS.key)

    def parse_wider(content: bytes) -> Parsed:
        parsed = Parsed()
        wider.collect([(1, json.loads(content)[0])], parsed)
        return parsed

    ingest_page(
        warehouse,
        SimpleNamespace(TABLES=(wider,), parse=parse_wider),
        "test.readings",
        page([{"station": "A", "day": "2026-01-01", "value": 1, "unit": "ug/m3"}]),
        None,
    )
    assert rows(warehouse, "select unit from raw.test_readings") == [("ug/m3",)]


def test_a_new_key_column_is_filled_in_for_the_rows_stored_before(warehouse: Warehouse) -> None:
    """A connector that changes its key fills the new column from the stored ones, so the next
    load of the same readings replaces them instead of adding a second copy."""
    reading = {"station": "A", "day": "2026-01-01", "value": 1}
    ingest_page(warehouse, CONNECTOR, "test.readings", page([reading]), None)
    rekeyed = Table(
        READINGS.name,
        {"reading_key": "VARCHAR", **READINGS.columns},
        ("reading_key",),
        filled_by={"reading_key": "station || ' ' || strftime(day, '%Y-%m-%d')"},
    )

    def parse_rekeyed(content: bytes) -> Parsed:
        parsed = Parsed()
        records = [(n, r | {"reading_key": f"{r['station']} {r['day']}"})
                   for n, r in enumerate(json.loads(content), start=1)]  # fmt: skip
        rekeyed.collect(records, parsed)
        return parsed

    connector = SimpleNamespace(TABLES=(rekeyed,), parse=parse_rekeyed)
    changed = {**reading, "value": 2}
    ingest_page(warehouse, connector, "test.readings", page([changed]), None)
    stored = rows(warehouse, "select reading_key, value from raw.test_readings")
    assert stored == [("A 2026-01-01", 2.0)]


def test_status_counts_and_freshness(warehouse: Warehouse) -> None:
    ingest_page(
        warehouse,
        CONNECTOR,
        "test.readings",
        page([{"station": "A", "day": "2026-01-01", "value": 1}, {"station": "B"}]),
        None,
    )
    lags = {"test.readings": 24.0, "test.other": 1.0}
    [status, never] = dataset_status(warehouse, lags, {})
    assert (status.batches, status.rows_received, status.rows_loaded) == (1, 2, 1)
    assert status.rows_quarantined == 1 and status.freshness == "fresh"
    assert never.freshness == "never" and never.batches == 0
    [by_data, _] = dataset_status(warehouse, lags, {"test.readings": ("test_readings", "day")})
    assert by_data.freshness == "stale", "its newest reading is of 1 January 2026"
    assert by_data.newest_at.isoformat() == "2026-01-02T00:00:00+07:00"


def test_a_batch_is_aged_on_the_wall_clock_and_a_record_on_the_pipelines(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's receipt is a real time, a reading's date is on the pipeline's calendar: with
    the calendar pinned a year ahead, a batch received just now is still fresh."""
    reading = {"station": "A", "day": "2026-01-01", "value": 1}
    ingest_page(warehouse, CONNECTOR, "test.readings", page([reading]), None)
    monkeypatch.setenv(
        "SMARTCITY_TODAY", (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    )
    lags = {"test.readings": 24.0}
    [by_batch] = dataset_status(warehouse, lags, {})
    [by_data] = dataset_status(warehouse, lags, {"test.readings": ("test_readings", "day")})
    assert (by_batch.freshness, by_data.freshness) == ("fresh", "stale")


def test_snapshot_replaces_the_table_and_compares_with_the_last_batch(
    warehouse: Warehouse,
) -> None:
    snapshot = SimpleNamespace(TABLES=(READINGS,), parse=parse, SNAPSHOT=True)
    feed_a = [
        {"station": "A", "day": "2026-01-01", "value": 1},
        {"station": "B", "day": "2026-01-01", "value": 2},
    ]
    feed_b = [{"station": "A", "day": "2026-01-01", "value": 1}]
    statuses = [
        ingest_page(warehouse, snapshot, "test.feed", page(feed, url=url), None).status
        for feed, url in [(feed_a, "http://s/feed"), (feed_b, "file:///b.zip")]
    ]
    assert rows(warehouse, "select station from raw.test_readings") == [("A",)]
    again = ingest_page(warehouse, snapshot, "test.feed", page(feed_a, url="http://s/feed"), None)
    assert statuses == ["loaded", "loaded"] and again.status == "loaded"
    assert rows(warehouse, "select station from raw.test_readings order by 1") == [("A",), ("B",)]


def test_a_row_loaded_again_unchanged_keeps_its_lineage(warehouse: Warehouse) -> None:
    same = [{"station": "A", "day": "2026-01-01", "value": 1}]
    first = ingest_page(warehouse, CONNECTOR, "test.readings", page(same, url="http://s/1"), None)
    again = ingest_page(
        warehouse,
        CONNECTOR,
        "test.readings",
        page([*same, {"station": "B", "day": "2026-01-01", "value": 2}], url="http://s/2"),
        None,
    )
    assert (first.rows_loaded, again.rows_loaded) == (1, 2)
    assert rows(warehouse, "select station, _batch_id from raw.test_readings order by 1") == [
        ("A", first.batch_id),
        ("B", again.batch_id),
    ]
    assert (first.rows_changed, again.rows_changed) == (1, 1)  # only B is new
    changed = rows(warehouse, "select batch_id, rows_changed from audit.batches order by loaded_at")
    assert changed == [(first.batch_id, 1), (again.batch_id, 1)]


def test_row_count_checks_compare_with_all_the_rows_the_last_batch_loaded(
    warehouse: Warehouse,
) -> None:
    """The base is every row the last batch from the URL loaded, changed or not (a row that came
    back unchanged keeps the older batch's lineage, so counting lineage would miss it)."""
    seen: list[dict[str, int]] = []

    def validate(table: Table, rows: list, missing: set, checks: Checks) -> list:
        seen.append(dict(checks.previous_rows))
        return []

    url = "http://s.test/readings?day=1"
    first = [{"station": s, "day": "2026-01-01", "value": 1} for s in "ABC"]
    second = [*first[:2], {"station": "C", "day": "2026-01-01", "value": 2}]
    third = [*second, {"station": "D", "day": "2026-01-01", "value": 3}]
    for records in (first, second, third):
        ingest_page(warehouse, CONNECTOR, "test.readings", page(records, url=url), None, validate)
    assert seen == [{}, {"test_readings": 3}, {"test_readings": 3}]
    assert rows(
        warehouse,
        "select count(*) from raw.test_readings where _batch_id = ("
        "select batch_id from audit.batches order by loaded_at limit 1 offset 1)",
    ) == [(1,)]
