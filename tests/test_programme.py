"""The whole programme against the emulators: every dataset lands, loads, and reruns safely."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from connectors.registry import DATASETS, connector_for
from warehouse.landing import manifest_rows

pytestmark = pytest.mark.flow


def query(settings: Any, sql: str, params: list | None = None) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql, params or []).fetchall()


def raw_tables() -> list[tuple[str, tuple[str, ...]]]:
    return [(t.name, t.key) for d in DATASETS for t in connector_for(d).TABLES]


def test_every_dataset_has_a_loaded_batch_and_rows(programme: Any) -> None:
    loaded = dict(
        query(
            programme,
            "select dataset, sum(rows_loaded) from audit.batches "
            "where status = 'loaded' group by dataset",
        )
    )
    assert set(loaded) == set(DATASETS)
    assert all(count > 0 for count in loaded.values()), loaded


def test_every_raw_table_is_filled(programme: Any) -> None:
    optional = {"transit_gtfs_calendar_dates"}  # filled only by feeds without calendar.txt
    for table, _ in raw_tables():
        if table in optional:
            continue
        [(count,)] = query(programme, f"select count(*) from raw.{table}")
        assert count > 0, table


def test_received_equals_loaded_plus_quarantined_for_every_batch(programme: Any) -> None:
    rows = query(
        programme,
        "select batch_id, rows_received, rows_loaded, rows_quarantined from audit.batches",
    )
    assert rows
    for batch_id, received, loaded, quarantined in rows:
        assert received == loaded + quarantined, batch_id
    [(unaccounted,)] = query(
        programme,
        "select count(*) from audit.batches b where rows_quarantined <> "
        "(select count(*) from quarantine.rows q where q.batch_id = b.batch_id)",
    )
    assert unaccounted == 0


def test_every_raw_file_matches_its_manifest_and_batch(programme: Any) -> None:
    batches = dict(query(programme, "select batch_id, sha256 from audit.batches"))
    landed = [entry for d in DATASETS for entry in manifest_rows(programme.warehouse.raw_dir, d)]
    assert {entry.batch_id for entry in landed} == set(batches)
    for entry in landed:
        content = (programme.warehouse.raw_dir / entry.path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry.sha256 == batches[entry.batch_id]
        assert len(content) == entry.bytes


def test_run_ledger_records_every_flow_run(programme: Any) -> None:
    runs = query(programme, "select flow_name, status, batches from audit.runs")
    flows = {name for name, _, _ in runs}
    assert {"programme_daily", "city", "transit", "university", "citizens"} <= flows
    assert all(status == "completed" for _, status, _ in runs)
    [(stakeholder_batches,)] = query(
        programme, "select sum(batches) from audit.runs where flow_name <> 'programme_daily'"
    )
    [(all_batches,)] = query(programme, "select count(*) from audit.batches")
    assert stakeholder_batches == all_batches


def test_second_run_adds_no_duplicate_rows(programme: Any) -> None:
    from flows.programme import programme_daily

    before = {t: query(programme, f"select count(*) from raw.{t}")[0][0] for t, _ in raw_tables()}
    programme_daily(config=str(programme.config_path), data_dir=str(programme.data_dir))
    live = {"transit_gtfs_rt_trip_updates", "transit_gtfs_rt_vehicle_positions"}
    for table, key in raw_tables():
        [(count,)] = query(programme, f"select count(*) from raw.{table}")
        if table in live:  # the real-time feed moves with the wall clock between the runs
            assert count >= before[table], table
        else:
            assert count == before[table], table
        columns = ", ".join(key)
        duplicates = query(
            programme,
            f"select {columns}, count(*) from raw.{table} group by all having count(*) > 1",
        )
        assert duplicates == [], table
    statuses = query(
        programme,
        "select status, count(*) from audit.batches where run_id in (select run_id from "
        "audit.runs where started_at = (select max(started_at) from audit.runs "
        "where flow_name = 'city')) group by status",
    )
    assert statuses, "the second run recorded its batches"


def test_conversions_hold_end_to_end(programme: Any) -> None:
    [(thai_rows, total)] = query(
        programme,
        "select count(*) filter (where regexp_matches(hospital_th, '[ก-๛]')), "
        "count(*) from raw.university_ems_dispatches",
    )
    assert total > 0 and thai_rows == total, "the cp874 export kept its Thai text"
    assert query(
        programme, "select count(*) from raw.city_population where year_ce <> year_be - 543"
    ) == [(0,)]
    [(after_midnight,)] = query(
        programme,
        "select count(*) from raw.transit_gtfs_stop_times "
        "where arrival_time >= '24:00:00' and arrival_time_seconds >= 86400",
    )
    assert after_midnight > 0
