"""transit.gtfs_rt: parsing GTFS-Realtime and its monthly archive zips, archive paging, and the
emulator's live feeds and archive."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from connectors import transit_gtfs, transit_gtfs_rt
from connectors.base import Parsed, ParseError, Source
from connectors.http import make_client
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, Clock
from emulators.transit import build
from warehouse.db import Warehouse
from warehouse.ingest import ingest_source

TODAY = date(2026, 11, 26)  # a Thursday
NO_STOP = (
    "StopTimeUpdate needs stop_sequence or stop_id (GTFS-Realtime reference, StopTimeUpdate): "
    "both missing"
)
T0 = int(datetime(2026, 11, 26, 14, 30, tzinfo=BANGKOK).timestamp())


def trip_updates_feed(timestamp: int = T0) -> bytes:
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = timestamp
    entity = feed.entity.add(id="e1")
    trip = entity.trip_update.trip
    trip.trip_id, trip.route_id, trip.start_date, trip.start_time = (
        "LRT1_WD_0_2400",
        "LRT1",
        "20261125",
        "24:00:00",
    )
    entity.trip_update.vehicle.id = "KKTS-LRT1-001"
    for sequence, delay in ((1, 30), (2, 95)):
        update = entity.trip_update.stop_time_update.add(
            stop_sequence=sequence, stop_id=f"L0{sequence}"
        )
        update.arrival.time = T0 + 60 * sequence + delay
        update.arrival.delay = delay
    by_stop = entity.trip_update.stop_time_update.add(stop_id="L03")  # no stop_sequence: valid
    by_stop.arrival.delay = 120
    nowhere = entity.trip_update.stop_time_update.add()  # no stop at all: forbidden
    nowhere.arrival.delay = 150
    return feed.SerializePartialToString()


def vehicle_positions_feed() -> bytes:
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = T0
    on_trip = feed.entity.add(id="v1").vehicle
    on_trip.trip.trip_id, on_trip.trip.start_date = "B10_WD_0_1400", "20261126"
    on_trip.vehicle.id = "KKTS-B10-003"
    on_trip.position.latitude, on_trip.position.longitude = 16.43, 102.83
    on_trip.current_status = rt.VehiclePosition.STOPPED_AT
    on_trip.timestamp = T0 - 5
    spare = feed.entity.add(id="v2").vehicle
    spare.vehicle.id = "KKTS-SPARE-01"
    spare.position.latitude, spare.position.longitude = 16.44, 102.80
    spare.timestamp = T0
    return feed.SerializeToString()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --------------------------------------------------------------------------- unit: parse


def test_parse_trip_updates_types_and_version() -> None:
    parsed = transit_gtfs_rt.parse(trip_updates_feed())

    assert parsed.version == str(T0)
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    assert parsed.rows["transit_gtfs_rt_vehicle_positions"] == []
    assert [(r["stop_sequence"], r["stop_id"]) for r in rows] == [
        (1, "L01"),
        (2, "L02"),
        (None, "L03"),
    ]
    assert [r["stop_key"] for r in rows] == ["sequence 1", "sequence 2", "stop L03"]
    assert {r["trip_key"] for r in rows} == {"LRT1_WD_0_2400 on 2026-11-25"}
    first = rows[0]
    assert first["start_date"] == date(2026, 11, 25)
    assert (first["start_time"], first["start_time_seconds"]) == ("24:00:00", 86_400)
    assert first["arrival_time"] == datetime.fromtimestamp(T0 + 90, UTC)
    assert first["arrival_time"].tzinfo is not None
    assert (first["arrival_delay"], first["departure_time"]) == (30, None)
    assert first["feed_timestamp"] == datetime.fromtimestamp(T0, UTC)
    assert (first["vehicle_id"], first["route_id"]) == ("KKTS-LRT1-001", "LRT1")
    assert [r["_row"] for r in rows] == [1, 2, 3]  # position among the feed's StopTimeUpdates
    # no uncertainty given: a time after the feed's is a prediction; a delay alone is not
    assert [r["is_predicted"] for r in rows] == [True, True, False]
    assert parsed.missing == {}
    (reject,) = parsed.rejects
    assert reject.table == "transit_gtfs_rt_trip_updates"
    assert reject.row_number == 4
    assert reject.reason == (
        "StopTimeUpdate needs stop_sequence or stop_id (GTFS-Realtime reference, "
        "StopTimeUpdate): both missing"
    )
    assert '"arrival_delay": 150' in reject.payload and "_problem" not in reject.payload


def test_parse_vehicle_positions_including_a_vehicle_without_trip() -> None:
    parsed = transit_gtfs_rt.parse(vehicle_positions_feed())

    assert parsed.rejects == []
    assert parsed.rows["transit_gtfs_rt_trip_updates"] == []
    on_trip, spare = parsed.rows["transit_gtfs_rt_vehicle_positions"]
    assert on_trip["trip_id"] == "B10_WD_0_1400"
    assert on_trip["current_status"] == "STOPPED_AT"
    assert on_trip["position_timestamp"] == datetime.fromtimestamp(T0 - 5, UTC)
    assert on_trip["latitude"] == pytest.approx(16.43, abs=1e-5)
    assert spare["trip_id"] is None and spare["start_date"] is None
    assert spare["vehicle_id"] == "KKTS-SPARE-01"
    assert (on_trip["_row"], spare["_row"]) == (1, 2)
    assert [(r["vehicle_key"], r["observed_at"]) for r in (on_trip, spare)] == [
        ("KKTS-B10-003", datetime.fromtimestamp(T0 - 5, UTC)),
        ("KKTS-SPARE-01", datetime.fromtimestamp(T0, UTC)),
    ]


def test_stop_sequence_absent_from_the_whole_feed_is_no_drift_rows_key_by_stop() -> None:
    feed = rt.FeedMessage()
    feed.ParseFromString(trip_updates_feed())
    updates = feed.entity[0].trip_update.stop_time_update
    for update in updates:
        update.ClearField("stop_sequence")  # the reference lets stop_id alone name the stop
    del updates[-1]  # the one naming no stop

    parsed = transit_gtfs_rt.parse(feed.SerializeToString())

    assert parsed.missing == {} and parsed.rejects == []
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    assert [(r["_row"], r["stop_key"], r["stop_sequence"]) for r in rows] == [
        (1, "stop L01", None),
        (2, "stop L02", None),
        (3, "stop L03", None),
    ]
    assert transit_gtfs_rt.FRESHNESS == ("transit_gtfs_rt_trip_updates", "feed_timestamp")


def test_parse_rejects_what_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="a GTFS-Realtime feed is a protobuf FeedMessage"):
        transit_gtfs_rt.parse(b"\xff\xff garbage")
    with pytest.raises(ParseError, match=r"requires header\.gtfs_realtime_version"):
        transit_gtfs_rt.parse(b"")


def test_parse_a_month_zip_member_by_member() -> None:
    content = zipped(
        {
            "2026-11-24/trip-updates.pb": trip_updates_feed(T0 - 86_400),
            "2026-11-25/": b"",  # a folder entry is no feed
            "2026-11-25/trip-updates.pb": trip_updates_feed(),
            "README.txt": b"KKTS GTFS-RT history, one end-of-day feed per day",
        }
    )

    parsed = transit_gtfs_rt.parse(content)

    assert parsed.version is None  # the loader compares the zip's sha256
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    assert parsed.rows["transit_gtfs_rt_vehicle_positions"] == []
    assert [(r["_row"], r["stop_key"]) for r in rows] == [
        (1, "sequence 1"),
        (2, "sequence 2"),
        (3, "stop L03"),
        (5, "sequence 1"),
        (6, "sequence 2"),
        (7, "stop L03"),
    ]
    assert [r["feed_timestamp"] for r in rows] == [datetime.fromtimestamp(T0 - 86_400, UTC)] * 3 + [
        datetime.fromtimestamp(T0, UTC)
    ] * 3
    assert [r.row_number for r in parsed.rejects] == [4, 8]
    assert all("needs stop_sequence or stop_id" in r.reason for r in parsed.rejects)
    assert all('"arrival_delay": 150' in r.payload for r in parsed.rejects)  # the row as received
    assert parsed.missing == {}


def test_a_corrupt_zip_or_member_is_a_parse_error_naming_it() -> None:
    good = zipped({"2026-11-25/trip-updates.pb": trip_updates_feed()})
    with pytest.raises(ParseError, match="not a readable zip"):
        transit_gtfs_rt.parse(good[: len(good) // 2])  # central directory gone
    flipped = bytearray(good)
    start = good.index(b"trip-updates.pb") + len("trip-updates.pb")
    flipped[start + 10] ^= 0xFF  # inside the compressed member
    with pytest.raises(
        ParseError, match=r"zip member '2026-11-25/trip-updates\.pb': cannot be read"
    ):
        transit_gtfs_rt.parse(bytes(flipped))
    garbage = zipped(
        {"2026-11-24/trip-updates.pb": trip_updates_feed(), "2026-11-25/x.pb": b"\xff"}
    )
    with pytest.raises(
        ParseError, match=r"zip member '2026-11-25/x\.pb': a GTFS-Realtime feed is a protobuf"
    ):
        transit_gtfs_rt.parse(garbage)
    headless = zipped({"2026-11-25/trip-updates.pb": b""})
    with pytest.raises(
        ParseError,
        match=r"zip member '2026-11-25/trip-updates\.pb': .*requires header.gtfs_realtime_version",
    ):
        transit_gtfs_rt.parse(headless)
    with pytest.raises(ParseError, match=r"no \.pb member"):
        transit_gtfs_rt.parse(zipped({"README.txt": b"nothing yet"}))


# --------------------------------------------------------------------------- unit: extract

LIVE = ["/gtfs-rt/trip-updates.pb", "/gtfs-rt/vehicle-positions.pb"]


def month_zip(month: str, history: tuple[date, date]) -> bytes:
    """A month's archive holding the days of the server's history (first day, day after last)."""
    first = date.fromisoformat(f"{month}-01")
    days = [first + timedelta(days=n) for n in range(31)]
    held = [day for day in days if day.month == first.month and history[0] <= day < history[1]]
    return zipped({f"{day}/trip-updates.pb": trip_updates_feed() for day in held})


def run_extract(
    options: dict,
    watermark: str | None,
    *,
    history: tuple[date, date] = (date(2025, 1, 1), date(2026, 11, 26)),
    broken: str = "",
) -> list[tuple[str, str, str | None]]:
    """(path, extension, watermark after) per page. The server holds the days of ``history``
    (first day, day after the last; by default up to ``as_of`` 26 November): a month with none
    answers 404, and month ``broken`` answers bytes that are no zip."""

    def handler(request: httpx.Request) -> httpx.Response:
        month = re.fullmatch(r"/gtfs-rt/archive/(\d{4}-\d{2})\.zip", request.url.path)
        if not month:
            return httpx.Response(200, content=trip_updates_feed())
        if month[1] == broken:
            return httpx.Response(200, content=b"PK\x03\x04 cut short")
        content = month_zip(month[1], history)
        return httpx.Response(200, content=content) if len(content) > 22 else httpx.Response(404)

    source = Source(dataset=transit_gtfs_rt.DATASET, url="http://kkts.test", options=options)
    with make_client(source, httpx.MockTransport(handler)) as client:
        pages = list(transit_gtfs_rt.extract(client, source, watermark))
    return [(httpx.URL(p.url).path, p.extension, p.watermark_after) for p in pages]


def test_extract_reads_archive_months_after_watermark_then_live_feeds() -> None:
    options = {"archive_days": 40, "as_of": "2026-11-26"}  # first run: from 17 October

    assert run_extract(options, None) == [
        ("/gtfs-rt/archive/2026-10.zip", "zip", "2026-10-31"),
        ("/gtfs-rt/archive/2026-11.zip", "zip", "2026-11-25"),  # the days that have ended
        *((path, "pb", "2026-11-25") for path in LIVE),
    ]
    assert run_extract(options, "2026-11-25") == [(path, "pb", "2026-11-25") for path in LIVE]
    assert [p for p, *_ in run_extract(options, "2026-10-31")][:1] == [
        "/gtfs-rt/archive/2026-11.zip"
    ]
    assert [(p, wm) for p, _, wm in run_extract(options, "2026-08-14")][:4] == [
        ("/gtfs-rt/archive/2026-08.zip", "2026-08-31"),  # the month of the day after
        ("/gtfs-rt/archive/2026-09.zip", "2026-09-30"),
        ("/gtfs-rt/archive/2026-10.zip", "2026-10-31"),
        ("/gtfs-rt/archive/2026-11.zip", "2026-11-25"),
    ]
    assert run_extract({"vehicle_positions_path": ""}, None) == [(LIVE[0], "pb", None)]


def test_extract_pages_months_across_the_year_end() -> None:
    new_year = {"archive_days": 365, "as_of": "2027-01-01"}
    history = (date(2026, 1, 1), date(2027, 1, 1))
    assert run_extract(new_year, "2026-11-29", history=history)[:2] == [
        ("/gtfs-rt/archive/2026-11.zip", "zip", "2026-11-30"),
        ("/gtfs-rt/archive/2026-12.zip", "zip", "2026-12-31"),
    ]
    first_of_month = {"archive_days": 365, "as_of": "2026-12-01"}  # yesterday: 30 November
    assert [p for p, *_ in run_extract(first_of_month, "2026-11-30")] == LIVE


def test_a_missing_month_ends_the_archive_and_keeps_the_watermark() -> None:
    options = {"archive_days": 365, "as_of": "2026-11-26"}
    behind = (date(2026, 1, 1), date(2026, 10, 20))  # nothing published after 19 October

    assert run_extract(options, "2026-09-30", history=behind) == [
        ("/gtfs-rt/archive/2026-10.zip", "zip", "2026-10-19"),
        *((path, "pb", "2026-10-19") for path in LIVE),  # November answered 404
    ]
    assert run_extract(options, "2026-10-19", history=behind) == [
        ("/gtfs-rt/archive/2026-10.zip", "zip", "2026-10-19"),  # asked again, still the 19th
        *((path, "pb", "2026-10-19") for path in LIVE),
    ]
    # a first run asking for more than the source keeps starts at its first month
    short = (date(2026, 9, 10), date(2026, 10, 20))
    assert run_extract(options, None, history=short)[:2] == [
        ("/gtfs-rt/archive/2026-09.zip", "zip", "2026-09-30"),
        ("/gtfs-rt/archive/2026-10.zip", "zip", "2026-10-19"),
    ]


def test_an_unreadable_month_leaves_the_watermark_for_the_loader_to_reject() -> None:
    options = {"archive_days": 365, "as_of": "2026-11-26"}
    pages = run_extract(options, "2026-09-30", broken="2026-10")
    assert pages[0] == ("/gtfs-rt/archive/2026-10.zip", "zip", "2026-09-30")


# --------------------------------------------------------------------------- the emulator


@dataclass
class WallClock:
    moment: datetime

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture(scope="module")
def wall_clock() -> WallClock:
    return WallClock(datetime(2026, 1, 1, 14, 30, tzinfo=BANGKOK))


@pytest.fixture(scope="module")
def emulator(wall_clock: WallClock) -> Iterator[Emulator]:
    server = build(Clock(TODAY, history_days=30), wall_clock=wall_clock).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").faults.reset()
        request.getfixturevalue("wall_clock").moment = datetime(2026, 1, 1, 14, 30, tzinfo=BANGKOK)


@pytest.fixture(scope="module")
def static(emulator: Emulator) -> dict[tuple[str, int], dict]:
    """Static stop_times by (trip_id, stop_sequence), with the trip's service_id."""
    source = Source(dataset=transit_gtfs.DATASET, url=emulator.url, backoff_seconds=0.01)
    with make_client(source) as client:
        (page,) = transit_gtfs.extract(client, source, None)
    rows = transit_gtfs.parse(page.content).rows
    services = {t["trip_id"]: t["service_id"] for t in rows["transit_gtfs_trips"]}
    return {
        (s["trip_id"], s["stop_sequence"]): {**s, "service_id": services[s["trip_id"]]}
        for s in rows["transit_gtfs_stop_times"]
    }


def fetch_live(emulator: Emulator, feed: str) -> tuple[bytes, Parsed]:
    source = Source(
        dataset=transit_gtfs_rt.DATASET,
        url=emulator.url,
        backoff_seconds=0.01,
        options={
            "trip_updates_path": "" if feed == "vehicles" else "/gtfs-rt/trip-updates.pb",
            "vehicle_positions_path": "/gtfs-rt/vehicle-positions.pb" if feed == "vehicles" else "",
        },
    )
    with make_client(source) as client:
        (page,) = transit_gtfs_rt.extract(client, source, None)
    return page.content, transit_gtfs_rt.parse(page.content)


def scheduled_at(day: date, seconds: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BANGKOK) + timedelta(seconds=seconds)


@pytest.mark.emulator
def test_live_trip_updates_follow_the_static_trips(emulator: Emulator, static: dict) -> None:
    _, parsed = fetch_live(emulator, "trips")
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    now = datetime(2026, 11, 26, 14, 30, tzinfo=BANGKOK)

    assert parsed.rejects == []
    assert parsed.version == str(int(now.timestamp()))
    assert rows and {r["feed_timestamp"] for r in rows} == {now}
    assert (
        Counter((r["trip_id"], r["start_date"], r["stop_sequence"]) for r in rows).most_common(1)[
            0
        ][1]
        == 1
    )
    observed = []
    for row in rows:
        planned = static[(row["trip_id"], row["stop_sequence"])]
        assert row["stop_id"] == planned["stop_id"]
        scheduled = scheduled_at(row["start_date"], planned["arrival_time_seconds"])
        assert row["arrival_time"] - scheduled == timedelta(seconds=row["arrival_delay"])
        assert row["departure_time"] >= row["arrival_time"]
        if row["arrival_uncertainty"] == 0:
            observed.append(row)
            assert row["arrival_time"] <= now
    on_time = [r for r in observed if -60 <= r["arrival_delay"] <= 300]
    assert len(observed) > 1000 and len(on_time) / len(observed) > 0.8
    assert any(r["arrival_delay"] > 300 for r in observed)  # not suspiciously perfect
    # yesterday's trips that ran past midnight are there, with yesterday's start_date
    assert any(r["start_date"] == date(2026, 11, 25) for r in rows)


@pytest.mark.emulator
def test_vehicle_positions_include_a_deadheading_vehicle(emulator: Emulator, static: dict) -> None:
    _, parsed = fetch_live(emulator, "vehicles")
    rows = parsed.rows["transit_gtfs_rt_vehicle_positions"]

    assert parsed.rejects == []
    assert len({r["vehicle_id"] for r in rows}) == len(rows) > 10
    assert [r["vehicle_id"] for r in rows if r["trip_id"] is None] == ["KKTS-SPARE-01"]
    trip_ids = {trip_id for trip_id, _ in static}
    assert all(r["trip_id"] in trip_ids for r in rows if r["trip_id"])
    assert all(15.6 < r["latitude"] < 17.2 and 101.6 < r["longitude"] < 103.3 for r in rows)
    assert all(r["position_timestamp"] <= r["feed_timestamp"] for r in rows)


@pytest.mark.emulator
def test_just_after_midnight_yesterdays_late_trips_are_under_way(
    emulator: Emulator, wall_clock: WallClock
) -> None:
    wall_clock.moment = datetime(2026, 1, 1, 0, 20, tzinfo=BANGKOK)

    _, trips = fetch_live(emulator, "trips")
    _, vehicles = fetch_live(emulator, "vehicles")

    rows = trips.rows["transit_gtfs_rt_trip_updates"]
    assert rows and {r["start_date"] for r in rows} == {date(2026, 11, 25)}
    assert all(r["start_time_seconds"] >= 23 * 3600 for r in rows)
    on_trip = [r for r in vehicles.rows["transit_gtfs_rt_vehicle_positions"] if r["trip_id"]]
    assert on_trip and {r["start_date"] for r in on_trip} == {date(2026, 11, 25)}


# The archive from an emulator with a short history, so that months stay small: its today is
# Wednesday 4 November 2026, its history 28 October to 3 November.
ARCHIVE_TODAY = date(2026, 11, 4)


@pytest.fixture(scope="module")
def archive_emulator(wall_clock: WallClock) -> Iterator[Emulator]:
    server = build(Clock(ARCHIVE_TODAY, history_days=7), wall_clock=wall_clock).start()
    yield server
    server.stop()


def get(emulator: Emulator, path: str) -> httpx.Response:
    return httpx.get(f"{emulator.url}{path}", timeout=30)


def members(content: bytes) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.infolist()


def archive_source(emulator: Emulator, as_of: date, archive_days: int = 2, **live: str) -> Source:
    options = {"archive_days": archive_days, "as_of": as_of.isoformat(), **live}
    return Source(
        dataset=transit_gtfs_rt.DATASET, url=emulator.url, backoff_seconds=0.01, options=options
    )


@pytest.mark.emulator
def test_a_month_zip_holds_the_ended_days_of_the_history(archive_emulator: Emulator) -> None:
    november = get(archive_emulator, "/gtfs-rt/archive/2026-11.zip")
    october = get(archive_emulator, "/gtfs-rt/archive/2026-10.zip")

    assert november.status_code == october.status_code == 200
    assert november.headers["content-type"] == "application/zip"
    assert [(m.filename, m.date_time) for m in members(november.content)] == [
        ("2026-11-01/trip-updates.pb", (2026, 11, 2, 2, 0, 0)),  # dated when the day closed
        ("2026-11-02/trip-updates.pb", (2026, 11, 3, 2, 0, 0)),
        ("2026-11-03/trip-updates.pb", (2026, 11, 4, 2, 0, 0)),
    ]  # today, the 4th, has not ended
    assert [m.filename[:10] for m in members(october.content)] == [
        "2026-10-28",  # the history's first day
        "2026-10-29",
        "2026-10-30",
        "2026-10-31",
    ]
    assert get(archive_emulator, "/gtfs-rt/archive/2026-09.zip").status_code == 404
    assert get(archive_emulator, "/gtfs-rt/archive/2026-12.zip").status_code == 404
    assert get(archive_emulator, "/gtfs-rt/archive/2026-13.zip").status_code == 400


@pytest.mark.emulator
def test_a_month_zip_is_the_same_bytes_until_a_day_is_added(
    archive_emulator: Emulator, wall_clock: WallClock
) -> None:
    first = get(archive_emulator, "/gtfs-rt/archive/2026-11.zip").content
    assert get(archive_emulator, "/gtfs-rt/archive/2026-11.zip").content == first

    next_day = Clock(ARCHIVE_TODAY + timedelta(days=1), history_days=8)
    later = build(next_day, wall_clock=wall_clock).start()
    try:
        grown = get(later, "/gtfs-rt/archive/2026-11.zip").content
    finally:
        later.stop()
    assert [m.filename[:10] for m in members(grown)][-2:] == ["2026-11-03", "2026-11-04"]
    with zipfile.ZipFile(io.BytesIO(first)) as before, zipfile.ZipFile(io.BytesIO(grown)) as now:
        assert all(before.read(m) == now.read(m) for m in before.namelist())


@pytest.mark.emulator
def test_the_archive_holds_each_whole_service_day(archive_emulator: Emulator, static: dict) -> None:
    source = archive_source(
        archive_emulator, date(2026, 11, 1), 5, trip_updates_path="", vehicle_positions_path=""
    )
    with make_client(source) as client:
        (page,) = transit_gtfs_rt.extract(client, source, None)
    assert page.url.endswith("/gtfs-rt/archive/2026-10.zip")
    assert (page.extension, page.watermark_after) == ("zip", "2026-10-31")

    parsed = transit_gtfs_rt.parse(page.content)
    assert parsed.rejects == [] and parsed.version is None
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    assert [r["_row"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["start_date"] for r in rows} == {date(2026, 10, d) for d in range(28, 32)}
    assert all(r["arrival_uncertainty"] == 0 for r in rows)  # all observed, none predicted
    wednesday = date(2026, 10, 28)
    day = [r for r in rows if r["start_date"] == wednesday]
    weekday = {key for key, planned in static.items() if planned["service_id"] == "WD"}
    assert {(r["trip_id"], r["stop_sequence"]) for r in day} == weekday
    closed = scheduled_at(wednesday, 26 * 3600)
    assert {r["feed_timestamp"] for r in day} == {closed}  # the member's own header time
    after_midnight = [
        r
        for r in day
        if static[(r["trip_id"], r["stop_sequence"])]["arrival_time_seconds"] >= 86_400
    ]
    assert after_midnight
    for row in after_midnight:  # absolute times across the 24:00 boundary agree with the delay
        planned = static[(row["trip_id"], row["stop_sequence"])]
        scheduled = scheduled_at(wednesday, planned["arrival_time_seconds"])
        assert scheduled.date() == date(2026, 10, 29)
        assert row["arrival_time"] - scheduled == timedelta(seconds=row["arrival_delay"])


@pytest.mark.emulator
def test_archive_data_faults_hit_every_day(archive_emulator: Emulator) -> None:
    archive_emulator.faults.data["malformed_rows"] = 1
    response = get(archive_emulator, "/gtfs-rt/archive/2026-10.zip")  # four days

    parsed = transit_gtfs_rt.parse(response.content)

    assert [r.reason for r in parsed.rejects] == [NO_STOP] * 4
    numbers = sorted(
        [r["_row"] for r in parsed.rows["transit_gtfs_rt_trip_updates"]]
        + [r.row_number for r in parsed.rejects]
    )
    assert numbers == list(range(1, len(numbers) + 1))  # one numbering across the members


@pytest.mark.emulator
def test_ingest_moves_the_watermark_and_sees_an_unchanged_month(
    archive_emulator: Emulator, tmp_path: Path
) -> None:
    warehouse = Warehouse(tmp_path / "data")

    def ingest(as_of: date) -> list[tuple[str, str, str]]:
        source = archive_source(archive_emulator, as_of)
        results = ingest_source(warehouse, transit_gtfs_rt, source, None)
        with warehouse.read() as con:
            urls = dict(con.execute("select batch_id, url from audit.batches").fetchall())
            [(watermark,)] = con.execute("select value from audit.watermarks").fetchall()
        return [(httpx.URL(urls[r.batch_id]).path, r.status, watermark) for r in results]

    live = ["/gtfs-rt/trip-updates.pb", "/gtfs-rt/vehicle-positions.pb"]
    assert ingest(ARCHIVE_TODAY) == [  # two days back: 2 November, so the month of November
        ("/gtfs-rt/archive/2026-11.zip", "loaded", "2026-11-03"),
        *((path, "loaded", "2026-11-03") for path in live),
    ]
    assert [(path, status) for path, status, _ in ingest(ARCHIVE_TODAY)] == [
        (path, "stale")
        for path in live  # nothing new in the archive; the feeds stood still
    ]
    # a day later by the connector's clock, but the server has not published the 4th yet:
    # November again, recognised as the same bytes; the watermark stays
    assert ingest(ARCHIVE_TODAY + timedelta(days=1))[0] == (
        "/gtfs-rt/archive/2026-11.zip",
        "unchanged",
        "2026-11-03",
    )
    # in the new year December is missing: the archive stops there and the watermark stays
    assert [path for path, *_ in ingest(date(2027, 1, 2))] == [
        "/gtfs-rt/archive/2026-11.zip",
        *live,
    ]
    with warehouse.read() as con:
        assert con.execute("select value from audit.watermarks").fetchall() == [("2026-11-03",)]
        [(days,)] = con.execute(
            "select count(distinct start_date) from raw.transit_gtfs_rt_trip_updates "
            "where arrival_uncertainty = 0 and start_date < ?",
            [ARCHIVE_TODAY - timedelta(days=1)],
        ).fetchall()
    assert days == 2  # the 1st and 2nd of November, whole, from the one month loaded


@pytest.mark.emulator
def test_a_month_of_archive_passes_every_check_of_the_suite(
    archive_emulator: Emulator, tmp_path: Path
) -> None:
    from expectations.gate import Gate

    warehouse = Warehouse(tmp_path / "data")
    source = replace(
        archive_source(archive_emulator, date(2026, 11, 1), 5, vehicle_positions_path=""),
        lag_hours=10 * 366 * 24,  # the test's calendar is fixed, the real clock moves on
    )

    archived, live = ingest_source(
        warehouse, transit_gtfs_rt, source, None, validate=Gate(tmp_path / "gx")
    )

    assert (archived.status, archived.rows_quarantined) == ("loaded", 0)
    assert archived.rows_loaded > 15_000 and live.status == "loaded"
    with warehouse.read() as con:
        failed = con.execute(
            "select table_name, expectation from audit.validations where not success"
        ).fetchall()
    assert failed == []


@pytest.mark.emulator
def test_stale_feed_freezes_header_and_content(emulator: Emulator, wall_clock: WallClock) -> None:
    _, parsed = fetch_live(emulator, "trips")
    wall_clock.moment += timedelta(minutes=5)
    _, moved_parsed = fetch_live(emulator, "trips")
    assert moved_parsed.version == str(int(parsed.version) + 300)

    emulator.faults.data["stale_feed"] = True
    frozen, _ = fetch_live(emulator, "trips")
    wall_clock.moment += timedelta(minutes=5)
    still, still_parsed = fetch_live(emulator, "trips")
    assert still == frozen and still_parsed.version == moved_parsed.version

    del emulator.faults.data["stale_feed"]
    _, thawed = fetch_live(emulator, "trips")
    assert thawed.version == str(int(moved_parsed.version) + 300)


@pytest.mark.emulator
def test_malformed_rows_become_rejects_naming_the_column(emulator: Emulator) -> None:
    emulator.faults.data["malformed_rows"] = 3

    _, trips = fetch_live(emulator, "trips")
    _, vehicles = fetch_live(emulator, "vehicles")

    assert [r.reason for r in trips.rejects] == [NO_STOP] * 3
    assert len(trips.rows["transit_gtfs_rt_trip_updates"]) > 1000
    assert all(
        isinstance(r["stop_sequence"], int) for r in trips.rows["transit_gtfs_rt_trip_updates"]
    )
    assert [r.reason for r in vehicles.rejects] == [
        "Position needs latitude and longitude (GTFS-Realtime reference, Position): "
        "longitude missing"
    ] * 3
    assert vehicles.rows["transit_gtfs_rt_vehicle_positions"]


@pytest.mark.emulator
def test_other_data_faults(emulator: Emulator) -> None:
    emulator.faults.data.update(out_of_range=2, duplicate_rows=2, unknown_codes=1)

    _, trips = fetch_live(emulator, "trips")
    _, vehicles = fetch_live(emulator, "vehicles")

    rows = trips.rows["transit_gtfs_rt_trip_updates"]
    assert sum(r["arrival_delay"] == -7200 for r in rows) == 2
    keys = Counter((r["trip_id"], r["start_date"], r["stop_sequence"]) for r in rows)
    assert sum(n - 1 for n in keys.values()) == 2
    assert sum(r["stop_id"] == "ZZ999" for r in rows) == 1
    positions = vehicles.rows["transit_gtfs_rt_vehicle_positions"]
    assert sum(r["latitude"] < 15.6 for r in positions) == 2
    assert sum(r["route_id"] == "ZZ99" for r in positions) == 1

    emulator.faults.data.clear()
    emulator.faults.data["missing_column"] = "stop_sequence"  # valid: stops named by stop_id
    _, trips = fetch_live(emulator, "trips")
    rows = trips.rows["transit_gtfs_rt_trip_updates"]
    assert trips.missing == {} and trips.rejects == [] and rows
    assert all(r["stop_sequence"] is None and r["stop_key"].startswith("stop ") for r in rows)
