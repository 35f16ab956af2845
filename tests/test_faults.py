"""Each fault a real source throws, injected into the real emulators and met by the real flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.server import Emulator
from flows.config import load_settings
from flows.ingest import IngestError, ingest
from tests.support import write_config

pytestmark = pytest.mark.flow


def run(tmp_path: Path, emulators: dict[str, Emulator], dataset: str, **overrides: dict):
    config = write_config(tmp_path, emulators, **overrides)
    summaries = ingest(datasets=[dataset], config=str(config), data_dir=str(tmp_path / "data"))
    return summaries[0], load_settings(config, tmp_path / "data")


def query(settings, sql: str) -> list[tuple]:
    with settings.warehouse.read() as con:
        return con.execute(sql).fetchall()


def test_burst_of_500_then_success(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    sensors = emulators["sensors"]
    sensors.faults.inject("status", count=2, status=500)
    before = len(sensors.requests)
    summary, settings = run(tmp_path, emulators, "city.sensors")
    assert summary.rows_loaded > 0 and summary.statuses == {"loaded": summary.batches}
    assert len(sensors.requests) - before == summary.batches + 2
    assert query(settings, "select count(*) from raw.city_sensor_uplinks")[0][0] > 0


def test_429_with_retry_after_then_success(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    transit = emulators["transit"]
    transit.faults.inject("rate_limit", count=1, retry_after=1, path="/api/v1/ridership")
    summary, _ = run(tmp_path, emulators, "transit.ridership")
    assert summary.rows_loaded > 0
    assert transit.faults.as_dict()["http"] == [], "the 429 was served and consumed"


def test_timeout_then_success(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    university = emulators["university"]
    university.faults.inject("delay", count=1, seconds=2, path="/fhir/")
    summary, settings = run(
        tmp_path,
        emulators,
        "university.measures",
        university__measures={"timeout_seconds": 0.5},
    )
    assert summary.rows_loaded > 0 and summary.rows_quarantined == 0
    assert query(settings, "select count(*) from raw.university_measure_reports")[0][0] > 0


def test_truncated_body_is_retried_and_only_the_whole_body_lands(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["citizens"].faults.inject("truncate", count=1, path="requests.json")
    summary, settings = run(tmp_path, emulators, "citizens.requests")
    assert summary.statuses.get("rejected", 0) == 0 and summary.rows_loaded > 0
    assert query(settings, "select count(*) from quarantine.rows")[0][0] == 0


@pytest.mark.parametrize(
    ("dataset", "emulator", "table"),
    [
        ("citizens.requests", "citizens", "citizens_service_requests"),
        ("city.sensors", "sensors", "city_sensor_uplinks"),
    ],
)
def test_malformed_rows_are_quarantined_with_reason_and_the_rest_loaded(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    dataset: str,
    emulator: str,
    table: str,
) -> None:
    emulators[emulator].faults.data["malformed_rows"] = 1
    summary, settings = run(tmp_path, emulators, dataset)
    assert summary.rows_quarantined >= 1 and summary.rows_loaded > 0
    quarantined = query(
        settings,
        f"select table_name, row_number, reason, payload from quarantine.rows "
        f"where dataset = '{dataset}'",
    )
    assert len(quarantined) == summary.rows_quarantined
    for table_name, row_number, reason, payload in quarantined:
        assert table_name == table and row_number >= 1
        assert reason.startswith("column '") and payload
    [(loaded,)] = query(settings, f"select count(*) from raw.{table}")
    assert loaded == summary.rows_loaded


def test_source_that_keeps_failing_fails_the_run_naming_dataset_and_url(
    prefect_api: None,
    emulators: dict[str, Emulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flows.ingest

    no_task_retries = flows.ingest.ingest_dataset.with_options(retries=0)
    monkeypatch.setattr(flows.ingest, "ingest_dataset", no_task_retries)
    emulators["citizens"].faults.inject("status", count=100, status=503)
    with pytest.raises(IngestError, match=r"citizens\.requests: .*HTTP 503"):
        run(
            tmp_path,
            emulators,
            "citizens.requests",
            citizens__requests={"max_retries": 1},
        )
    settings = load_settings(tmp_path / "smartcity.toml", tmp_path / "data")
    [(status, error)] = query(settings, "select status, error from audit.runs")
    assert status == "failed" and "citizens.requests" in error


def test_stale_realtime_feed_is_recorded_as_stale_not_reloaded(
    prefect_api: None, emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    emulators["transit"].faults.data["stale_feed"] = True
    live = {"transit__gtfs_rt": {"options": {"archive_days": 0}}}
    first, settings = run(tmp_path, emulators, "transit.gtfs_rt", **live)
    second, _ = run(tmp_path, emulators, "transit.gtfs_rt", **live)
    assert first.statuses == {"loaded": 2}
    assert second.statuses == {"stale": 2} and second.rows_loaded == 0
    details = query(settings, "select detail from audit.batches where status = 'stale'")
    assert len(details) == 2
    assert all(d.startswith("header timestamp ") for (d,) in details)
