"""transit.gtfs_rt: parsing GTFS-Realtime, archive paging, and the emulator's live feeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from connectors import transit_gtfs, transit_gtfs_rt
from connectors.base import Parsed, ParseError, Source
from connectors.http import make_client
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, Clock
from emulators.transit import build

TODAY = date(2026, 11, 26)  # a Thursday
T0 = int(datetime(2026, 11, 26, 14, 30, tzinfo=BANGKOK).timestamp())


def trip_updates_feed() -> bytes:
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = T0
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
    entity.trip_update.stop_time_update.add(stop_id="L03")  # no stop_sequence: cannot be keyed
    return feed.SerializeToString()


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


# --------------------------------------------------------------------------- unit: parse


def test_parse_trip_updates_types_and_version() -> None:
    parsed = transit_gtfs_rt.parse(trip_updates_feed())

    assert parsed.version == str(T0)
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    assert parsed.rows["transit_gtfs_rt_vehicle_positions"] == []
    assert [r["stop_sequence"] for r in rows] == [1, 2]
    first = rows[0]
    assert first["start_date"] == date(2026, 11, 25)
    assert (first["start_time"], first["start_time_seconds"]) == ("24:00:00", 86_400)
    assert first["arrival_time"] == datetime.fromtimestamp(T0 + 90, UTC)
    assert first["arrival_time"].tzinfo is not None
    assert (first["arrival_delay"], first["departure_time"]) == (30, None)
    assert first["feed_timestamp"] == datetime.fromtimestamp(T0, UTC)
    assert (first["vehicle_id"], first["route_id"]) == ("KKTS-LRT1-001", "LRT1")
    assert [r["_row"] for r in rows] == [1, 2]  # position among the feed's StopTimeUpdates
    assert parsed.missing == {}
    (reject,) = parsed.rejects
    assert reject.table == "transit_gtfs_rt_trip_updates"
    assert reject.row_number == 3
    assert reject.reason == "column 'stop_sequence': key is missing"
    assert '"stop_id": "L03"' in reject.payload


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


def test_a_required_field_no_record_carries_is_drift_typed_null() -> None:
    feed = rt.FeedMessage()
    feed.ParseFromString(trip_updates_feed())
    for entity in feed.entity:
        for update in entity.trip_update.stop_time_update:
            update.ClearField("stop_sequence")  # a key field gone from the whole feed

    parsed = transit_gtfs_rt.parse(feed.SerializeToString())

    assert parsed.missing == {"transit_gtfs_rt_trip_updates": {"stop_sequence"}}
    assert parsed.rejects == []  # not one reject per row: the suite sets the feed aside
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    assert [(r["_row"], r["stop_id"], r["stop_sequence"]) for r in rows] == [
        (1, "L01", None),
        (2, "L02", None),
        (3, "L03", None),
    ]
    assert transit_gtfs_rt.FRESHNESS == ("transit_gtfs_rt_trip_updates", "feed_timestamp")


def test_parse_rejects_what_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not a GTFS-Realtime FeedMessage"):
        transit_gtfs_rt.parse(b"\xff\xff garbage")
    with pytest.raises(ParseError, match="no header"):
        transit_gtfs_rt.parse(b"")


# --------------------------------------------------------------------------- unit: extract


def run_extract(options: dict, watermark: str | None) -> list[tuple[str, str | None]]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trip_updates_feed())

    source = Source(dataset=transit_gtfs_rt.DATASET, url="http://kkts.test", options=options)
    with make_client(source, httpx.MockTransport(handler)) as client:
        pages = list(transit_gtfs_rt.extract(client, source, watermark))
    assert all(p.extension == "pb" for p in pages)
    return [(httpx.URL(p.url).path, p.watermark_after) for p in pages]


def test_extract_reads_archive_days_after_watermark_then_live_feeds() -> None:
    options = {"archive_days": 2, "as_of": "2026-11-26"}
    live = ["/gtfs-rt/trip-updates.pb", "/gtfs-rt/vehicle-positions.pb"]

    first = run_extract(options, None)
    assert first == [
        ("/gtfs-rt/archive/2026-11-24/trip-updates.pb", "2026-11-24"),
        ("/gtfs-rt/archive/2026-11-25/trip-updates.pb", "2026-11-25"),
        *((path, "2026-11-25") for path in live),
    ]
    assert run_extract(options, "2026-11-25") == [(path, "2026-11-25") for path in live]
    catch_up = run_extract(options, "2026-11-21")
    assert [wm for _, wm in catch_up][:4] == [
        "2026-11-22",
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
    ]
    assert run_extract({"vehicle_positions_path": ""}, None) == [(live[0], None)]


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


@pytest.mark.emulator
def test_archive_holds_the_whole_service_day_and_watermark_moves(
    emulator: Emulator, static: dict
) -> None:
    options = {"archive_days": 2, "as_of": TODAY.isoformat()}
    source = Source(
        dataset=transit_gtfs_rt.DATASET, url=emulator.url, backoff_seconds=0.01, options=options
    )
    with make_client(source) as client:
        pages = list(transit_gtfs_rt.extract(client, source, None))
        assert [p.watermark_after for p in pages] == [
            "2026-11-24",
            "2026-11-25",
            *["2026-11-25"] * 2,
        ]
        again = list(transit_gtfs_rt.extract(client, source, pages[-1].watermark_after))
    assert ["archive" in p.url for p in again] == [False, False]  # nothing new from the archive

    parsed = transit_gtfs_rt.parse(pages[1].content)
    rows = parsed.rows["transit_gtfs_rt_trip_updates"]
    weekday = {key for key, planned in static.items() if planned["service_id"] == "WD"}
    assert {(r["trip_id"], r["stop_sequence"]) for r in rows} == weekday  # 25 Nov is a Wednesday
    assert {r["start_date"] for r in rows} == {date(2026, 11, 25)}
    assert all(r["arrival_uncertainty"] == 0 for r in rows)
    assert parsed.version == str(int(scheduled_at(date(2026, 11, 25), 26 * 3600).timestamp()))
    after_midnight = [
        r
        for r in rows
        if static[(r["trip_id"], r["stop_sequence"])]["arrival_time_seconds"] >= 86_400
    ]
    assert after_midnight
    for row in after_midnight:  # absolute times across the 24:00 boundary agree with the delay
        planned = static[(row["trip_id"], row["stop_sequence"])]
        scheduled = scheduled_at(date(2026, 11, 25), planned["arrival_time_seconds"])
        assert scheduled.date() == date(2026, 11, 26)
        assert row["arrival_time"] - scheduled == timedelta(seconds=row["arrival_delay"])


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

    assert [r.reason for r in trips.rejects] == ["column 'stop_sequence': key is missing"] * 3
    assert len(trips.rows["transit_gtfs_rt_trip_updates"]) > 1000
    assert all(
        isinstance(r["stop_sequence"], int) for r in trips.rows["transit_gtfs_rt_trip_updates"]
    )
    assert [r.reason for r in vehicles.rejects] == ["column 'vehicle_id': key is missing"] * 3
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
    emulator.faults.data["missing_column"] = "stop_sequence"
    _, trips = fetch_live(emulator, "trips")
    assert trips.missing == {"transit_gtfs_rt_trip_updates": {"stop_sequence"}}
    assert trips.rejects == [] and trips.rows["transit_gtfs_rt_trip_updates"]
