"""Backfill: a range already loaded comes back, changes no row, and leaves every watermark."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from typer.testing import CliRunner

from connectors import clock
from flows.cli import app
from flows.config import load_settings
from warehouse.ingest import BackfillRefused

pytestmark = pytest.mark.flow

TODAY = clock.today()
START, END = TODAY - timedelta(days=6), TODAY - timedelta(days=4)
# Each date-addressable dataset, and what its requests must say to have asked for the range.
RANGED = {
    "citizens.requests": f"start_date={START.isoformat()}T00:00:00+07:00",
    "transit.ridership": f"from={START.isoformat()}&to={END.isoformat()}",
    "transit.gtfs_rt": f"/archive/{START:%Y-%m}.zip",
    "university.measures": f"_lastUpdated=gt{START - timedelta(days=1)}T23:59:59.999999+07:00",
    "city.sensors": f"after={START - timedelta(days=1)}T16:59:59.999999999Z",
    "city.solar": "offset=0",  # CKAN cannot be asked for dates: the whole table again
}


def raw_state(settings: Any) -> dict[str, list[tuple]]:
    """Every row of every raw table, lineage (_batch_id, _loaded_at) included, and watermarks."""
    with settings.warehouse.read() as con:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        state = {t: con.execute(f"select * from raw.{t} order by all").fetchall() for t in tables}
        state["watermarks"] = con.execute("select * from audit.watermarks order by all").fetchall()
    return state


@pytest.fixture
def copied(programme: Any, tmp_path: Path) -> Any:
    """A copy of the programme's warehouse and landing zone, for a test that writes."""
    shutil.copytree(programme.data_dir, tmp_path / "data")
    return load_settings(programme.config_path, tmp_path / "data")


def test_backfill_of_a_loaded_range_changes_no_row_and_keeps_the_watermarks(copied: Any) -> None:
    from flows.backfill import backfill

    before = raw_state(copied)
    assert before["watermarks"] and before["citizens_service_requests"]
    params = {"config": str(copied.config_path), "data_dir": str(copied.data_dir)}
    for dataset in RANGED:
        summary = backfill(dataset, START.isoformat(), END.isoformat(), **params)
        assert summary.dataset == dataset and summary.batches > 0, summary
        assert set(summary.statuses) <= {"loaded", "unchanged"}, summary
        assert summary.rows_changed == 0, summary  # every row came back as it is stored

    after = raw_state(copied)
    assert after.keys() == before.keys()
    for table in before:
        assert after[table] == before[table], f"{table} changed"

    with copied.warehouse.read() as con:
        runs = con.execute(
            "select datasets[1], run_id, status from audit.runs where flow_name = 'backfill'"
        ).fetchall()
        assert sorted(dataset for dataset, _, _ in runs) == sorted(RANGED)
        assert {status for _, _, status in runs} == {"completed"}
        for dataset, run_id, _ in runs:
            urls = [
                unquote_plus(url)
                for (url,) in con.execute(
                    "select url from audit.batches where run_id = ?", [run_id]
                ).fetchall()
            ]
            assert any(RANGED[dataset] in url for url in urls), (dataset, urls[:3])


@pytest.mark.parametrize("dataset", ["transit.gtfs", "university.research_csv"])
def test_backfill_of_a_snapshot_is_refused_before_anything_is_written(
    prefect_api: None, tmp_path: Path, dataset: str
) -> None:
    from flows.backfill import backfill

    with pytest.raises(BackfillRefused, match="is a snapshot"):
        backfill(dataset, "2026-01-01", "2026-01-31", data_dir=str(tmp_path / "data"))
    assert not (tmp_path / "data").exists()


def test_backfill_command_refuses_a_snapshot_in_one_line(prefect_api: None, tmp_path: Path) -> None:
    command = ["--data-dir", str(tmp_path / "data"), "backfill", "transit.gtfs"]
    result = CliRunner().invoke(app, [*command, "--from", "2026-01-01", "--to", "2026-01-31"])
    assert result.exit_code == 1
    assert "BackfillRefused: transit.gtfs is a snapshot" in result.output
    assert "smartcity ingest transit.gtfs" in result.output


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-01", "2026-01-01", "the first day is after the last"),
        (str(TODAY), str(TODAY + timedelta(days=1)), "after today"),
    ],
)
def test_backfill_refuses_a_range_that_cannot_be(
    prefect_api: None, tmp_path: Path, start: str, end: str, message: str
) -> None:
    from flows.backfill import backfill

    with pytest.raises(ValueError, match=message):
        backfill("citizens.requests", start, end, data_dir=str(tmp_path / "data"))
    command = ["--data-dir", str(tmp_path / "data"), "backfill", "citizens.requests"]
    result = CliRunner().invoke(app, [*command, "--from", start, "--to", end])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "data").exists()


def test_hooks_pin_the_range_to_bangkok_days() -> None:
    from connectors import citizens_requests, transit_gtfs_rt, transit_ridership
    from connectors.base import Source

    day = date(2026, 3, 10)
    source, watermark = citizens_requests.backfill(Source("citizens.requests", "x"), day, day)
    assert watermark == "2026-03-09T17:00:00+00:00"
    assert source.options["now"] == "2026-03-10T17:00:00+00:00"
    assert source.options["lookback_days"] == 0
    source, watermark = transit_ridership.backfill(Source("transit.ridership", "x"), day, day)
    assert (watermark, source.options["as_of"]) == ("2026-03-09", "2026-03-11")
    source, watermark = transit_gtfs_rt.backfill(
        Source("transit.gtfs_rt", "x", options={"archive_days": 365}), day, day
    )
    assert (watermark, source.options["as_of"]) == ("2026-03-09", "2026-03-11")
    assert source.options["trip_updates_path"] == source.options["vehicle_positions_path"] == ""
