"""The smartcity command as a steward meets it: help, a hand-delivered GTFS zip, status."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.flow

FOREIGN_FEED = {
    # a feed from elsewhere: BOM, other column order, extra columns, calendar_dates only
    "agency.txt": "\ufeffagency_name,agency_id,agency_url,agency_timezone,agency_phone\n"
    "Metro Tram,MT,https://tram.example,Europe/Lisbon,\n",
    "routes.txt": "route_type,route_id,agency_id,route_short_name,route_long_name,route_color\n"
    '0,28,MT,28,"Martim Moniz - Campo Ourique",FFCC00\n',
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,wheelchair_boarding\n"
    "S1,Martim Moniz,38.7169,-9.1357,1\nS2,Campo Ourique,38.7156,-9.1664,0\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign\n28,WKD,T1,Campo Ourique\n",
    "stop_times.txt": "trip_id,stop_sequence,stop_id,arrival_time,departure_time\n"
    "T1,1,S1,24:50:00,24:50:00\nT1,2,S2,25:10:00,25:10:00\n",
    "calendar_dates.txt": "service_id,date,exception_type\nWKD,20261127,1\n",
}


def zipped(files: dict[str, str], path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys; from flows.cli import app; "
        "heavy = [m for m in ('prefect', 'duckdb', 'httpx', 'great_expectations') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_ingest_file_loads_any_valid_gtfs_zip(prefect_api: None, tmp_path: Path) -> None:
    feed = zipped(FOREIGN_FEED, tmp_path / "lisbon.zip")
    result = invoke("--data-dir", str(tmp_path / "data"), "ingest-file", "transit.gtfs", str(feed))
    assert result.exit_code == 0, result.output
    import duckdb

    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")) as con:
        times = con.execute(
            "select arrival_time, arrival_time_seconds from raw.transit_gtfs_stop_times "
            "order by stop_sequence"
        ).fetchall()
        dates = con.execute("select service_id from raw.transit_gtfs_calendar_dates").fetchall()
        agency = con.execute("select agency_name from raw.transit_gtfs_agency").fetchall()
    assert times == [("24:50:00", 89400), ("25:10:00", 90600)]
    assert dates == [("WKD",)] and agency == [("Metro Tram",)]


def test_ingest_file_rejects_feed_missing_a_column_and_loads_nothing(
    prefect_api: None, tmp_path: Path
) -> None:
    rows = list(csv.reader(io.StringIO(FOREIGN_FEED["stop_times.txt"])))
    without_sequence = "\n".join(",".join(r[:1] + r[2:]) for r in rows) + "\n"
    feed = zipped({**FOREIGN_FEED, "stop_times.txt": without_sequence}, tmp_path / "bad.zip")
    result = invoke("--data-dir", str(tmp_path / "data"), "ingest-file", "transit.gtfs", str(feed))
    assert result.exit_code == 1
    reason = result.output.strip().splitlines()[-1]
    assert reason.startswith("error: IngestError: transit.gtfs: ")
    assert "stop_times.txt" in reason and "'stop_sequence'" in reason and "nothing loaded" in reason
    import duckdb

    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
        [(status, quarantined)] = con.execute(
            "select status, rows_quarantined from audit.batches"
        ).fetchall()
    assert tables == [] and (status, quarantined) == ("rejected", 1)


def test_ingest_file_rejects_feed_missing_a_file(prefect_api: None, tmp_path: Path) -> None:
    files = {k: v for k, v in FOREIGN_FEED.items() if k != "stops.txt"}
    feed = zipped(files, tmp_path / "nostops.zip")
    result = invoke("--data-dir", str(tmp_path / "data"), "ingest-file", "transit.gtfs", str(feed))
    assert result.exit_code == 1 and "stops.txt" in result.output


def test_unknown_dataset_is_one_clear_line(tmp_path: Path) -> None:
    result = invoke("--data-dir", str(tmp_path), "ingest", "city.weather")
    assert result.exit_code == 1
    assert "unknown dataset 'city.weather'" in result.output and "city.population" in result.output


def test_status_lists_every_dataset_with_counts(programme) -> None:
    result = invoke(
        "--config", str(programme.config_path), "--data-dir", str(programme.data_dir), "status"
    )
    assert result.exit_code == 0, result.output
    for dataset in programme.sources:
        assert dataset in result.output
    assert "fresh" in result.output


def test_status_without_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = invoke("--data-dir", str(tmp_path / "empty"), "status")
    assert result.exit_code == 1 and "smartcity run" in result.output


def test_ingest_url_overrides_the_configured_endpoint(
    prefect_api: None, emulators, tmp_path: Path
) -> None:
    from tests.support import write_config

    config = write_config(tmp_path, emulators, city__solar={"url": "http://127.0.0.1:9"})
    data = tmp_path / "data"
    args = ["--config", str(config), "--data-dir", str(data), "ingest", "city.solar"]
    result = invoke(*args, "--url", emulators["city"].url)
    assert result.exit_code == 0, result.output
    assert "city.solar" in result.output
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        [(url,)] = con.execute("select distinct url from audit.batches").fetchall()
        [(count,)] = con.execute("select count(*) from raw.city_solar").fetchall()
    assert url.startswith(emulators["city"].url) and count > 0


def test_url_with_several_datasets_is_refused(tmp_path: Path) -> None:
    result = invoke(
        "--data-dir", str(tmp_path), "ingest", "city.solar", "city.population", "--url", "http://x"
    )
    assert result.exit_code == 1 and "exactly one dataset" in result.output


def test_status_exits_non_zero_naming_a_stale_dataset(
    prefect_api: None, emulators, tmp_path: Path
) -> None:
    from flows.ingest import ingest
    from tests.support import write_config

    emulators["citizens"].faults.data["stale_feed"] = True  # nothing filed for three days
    config = write_config(tmp_path, emulators, citizens__requests={"options": {"history_days": 10}})
    data = tmp_path / "data"
    ingest(datasets=["citizens.requests"], config=str(config), data_dir=str(data))
    result = invoke("--config", str(config), "--data-dir", str(data), "status")
    assert result.exit_code == 1
    assert "not fresh:" in result.output and "citizens.requests (stale)" in result.output
    assert "city.solar (never)" in result.output
