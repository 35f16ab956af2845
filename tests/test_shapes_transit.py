"""KKTS inputs in every shape their standards allow, not only the emulator's usual one.

GTFS-Realtime feeds without trip_id, timestamps, stop_sequence or optional header fields load
with nulls (keyed by ``trip_key``/``stop_key`` and ``vehicle_key``/``observed_at``); GTFS feeds
without their optional files load, and the snapshot empties the tables of the files left out.
What the standards forbid is refused in one line naming the rule and the fix (a whole feed) or
quarantined with the rule as reason (one row). Received files of the wrong kind are refused by
``check_kind`` before landing. The emulator's ``shape`` knob serves such feeds over loopback, and
dbt skips the rows TR03 and TR04 cannot use instead of failing on them.

Every sample here is written by hand for this test.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from connectors import transit_gtfs, transit_gtfs_rt, transit_ridership
from connectors.base import ParseError, Source, WrongKindError
from connectors.http import make_client
from connectors.registry import DATASETS, connector_for
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, Clock
from emulators.transit import build
from tests.support import dbt
from warehouse.db import Warehouse
from warehouse.ingest import ingest_file
from warehouse.loader import ensure_table

T0 = int(datetime(2026, 11, 16, 14, 30, tzinfo=BANGKOK).timestamp())
TRIPS, VEHICLES = "transit_gtfs_rt_trip_updates", "transit_gtfs_rt_vehicle_positions"


def moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def feed_message(version: str = "2.0", timestamp: int | None = T0) -> rt.FeedMessage:
    """A FeedMessage with only what its header must carry (no incrementality)."""
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = version
    if timestamp is not None:
        feed.header.timestamp = timestamp
    return feed


def encoded(feed: rt.FeedMessage) -> bytes:
    return feed.SerializePartialToString()  # partial: some samples break proto-required fields


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    return message


# --------------------------------------------------------------------------- GTFS-RT: valid shapes


def minimal_vehicles() -> rt.FeedMessage:
    """Vehicles as sparse as the reference allows: no trip_id, no timestamps."""
    feed = feed_message()
    only_id = feed.entity.add(id="1").vehicle
    only_id.vehicle.id = "BUS-7"
    only_id.position.latitude, only_id.position.longitude = 16.43, 102.83
    labelled = feed.entity.add(id="2").vehicle
    labelled.vehicle.label = "7A"
    labelled.position.latitude, labelled.position.longitude = 16.44, 102.81
    by_route = feed.entity.add(id="3").vehicle  # a partial trip: only the route is known
    by_route.trip.route_id = "B10"
    by_route.position.latitude, by_route.position.longitude = 16.45, 102.79
    nothing_but_a_stop = feed.entity.add(id="4").vehicle  # no position either
    nothing_but_a_stop.stop_id = "KK06"
    nothing_but_a_stop.current_status = rt.VehiclePosition.STOPPED_AT
    timed = feed.entity.add(id="5").vehicle
    timed.vehicle.id = "BUS-9"
    timed.position.latitude, timed.position.longitude = 16.46, 102.8
    timed.timestamp = T0 - 30
    return feed


def test_vehicle_positions_without_trip_id_or_timestamps_load_with_nulls() -> None:
    parsed = transit_gtfs_rt.parse(encoded(minimal_vehicles()))

    assert parsed.rejects == [] and parsed.missing == {}
    rows = parsed.rows[VEHICLES]
    assert [(r["vehicle_key"], r["observed_at"]) for r in rows] == [
        ("BUS-7", moment(T0)),  # no vehicle.timestamp: the feed's time
        ("label 7A", moment(T0)),  # no vehicle.id: the label
        ("entity 3", moment(T0)),  # no descriptor at all: the entity id
        ("entity 4", moment(T0)),
        ("BUS-9", moment(T0 - 30)),
    ]
    assert all(r["trip_id"] is None and r["start_date"] is None for r in rows)
    assert [r["position_timestamp"] for r in rows] == [None] * 4 + [moment(T0 - 30)]
    assert rows[2]["route_id"] == "B10"
    assert (rows[3]["latitude"], rows[3]["stop_id"], rows[3]["current_status"]) == (
        None,
        "KK06",
        "STOPPED_AT",
    )


def trips_by_route_and_without_optional_fields() -> rt.FeedMessage:
    feed = feed_message()
    by_route = feed.entity.add(id="r").trip_update  # no trip_id: route, direction, start
    by_route.trip.route_id, by_route.trip.direction_id = "LRT1", 1
    by_route.trip.start_time, by_route.trip.start_date = "14:15:00", "20261116"
    first = by_route.stop_time_update.add(stop_id="L14")  # no stop_sequence
    first.arrival.time = T0 - 600
    second = by_route.stop_time_update.add(stop_id="L13")
    second.arrival.delay = 90  # a delay, no time
    third = by_route.stop_time_update.add(stop_id="L12")
    third.departure.time = T0 + 300  # a departure only, after the feed's time
    undated = feed.entity.add(id="u").trip_update  # trip_id without start_date: allowed
    undated.trip.trip_id = "B10_WD_0_1400"
    undated.stop_time_update.add(stop_sequence=2).arrival.time = T0 - 60
    undated.stop_time_update.add(
        stop_sequence=3, schedule_relationship=rt.TripUpdate.StopTimeUpdate.NO_DATA
    )
    undated.stop_time_update.add(
        stop_sequence=4, schedule_relationship=rt.TripUpdate.StopTimeUpdate.SKIPPED
    )
    return feed


def test_trip_updates_by_route_by_stop_and_without_times_load_with_nulls() -> None:
    parsed = transit_gtfs_rt.parse(encoded(trips_by_route_and_without_optional_fields()))

    assert parsed.rejects == [] and parsed.missing == {}
    rows = parsed.rows[TRIPS]
    route = "route LRT1 direction 1 at 14:15:00 on 2026-11-16"
    assert [(r["trip_key"], r["stop_key"], r["is_predicted"]) for r in rows] == [
        (route, "stop L14", False),
        (route, "stop L13", False),
        (route, "stop L12", True),  # no uncertainty, but after the feed's time: a prediction
        ("B10_WD_0_1400", "sequence 2", False),  # no start_date: the latest instance
        ("B10_WD_0_1400", "sequence 3", False),
        ("B10_WD_0_1400", "sequence 4", False),
    ]
    assert [r["trip_id"] for r in rows[:3]] == [None] * 3
    assert [r["stop_sequence"] for r in rows[:3]] == [None] * 3
    assert (rows[1]["arrival_time"], rows[1]["arrival_delay"]) == (None, 90)
    assert (rows[2]["arrival_time"], rows[2]["departure_time"]) == (None, moment(T0 + 300))
    assert rows[3]["start_date"] is None and rows[3]["stop_id"] is None
    assert [r["schedule_relationship"] for r in rows[3:]] == [None, "NO_DATA", "SKIPPED"]
    assert all(r["vehicle_id"] is None and r["trip_update_timestamp"] is None for r in rows)


def test_optional_header_fields_may_be_absent() -> None:
    no_incrementality = feed_message()  # 2.0 with timestamp, no incrementality
    no_incrementality.entity.add(id="1").CopyFrom(minimal_vehicles().entity[0])
    assert transit_gtfs_rt.parse(encoded(no_incrementality)).rows[VEHICLES][0]["vehicle_key"] == (
        "BUS-7"
    )

    version_1 = feed_message(version="1.0", timestamp=None)  # 1.0 does not require a timestamp
    version_1.entity.extend(trips_by_route_and_without_optional_fields().entity)
    version_1.entity.extend(minimal_vehicles().entity)

    parsed = transit_gtfs_rt.parse(encoded(version_1))

    assert parsed.version is None  # the loader compares the sha256 instead
    assert len(parsed.rows[TRIPS]) == 6 and {r["feed_timestamp"] for r in parsed.rows[TRIPS]} == {
        None
    }
    assert [r["stop_key"] for r in parsed.rows[TRIPS]][:3] == ["stop L14", "stop L13", "stop L12"]
    # a position with no time of its own in a feed without time cannot be placed in time
    assert [r["vehicle_key"] for r in parsed.rows[VEHICLES]] == ["BUS-9"]
    assert [r.row_number for r in parsed.rejects] == [1, 2, 3, 4]
    assert {r.reason for r in parsed.rejects} == {
        "VehiclePosition has no time: neither vehicle.timestamp nor header.timestamp "
        "(GTFS-Realtime reference, VehiclePosition), so it cannot be placed in time"
    }


# --------------------------------------------------------------------------- GTFS-RT: forbidden


def without_id() -> bytes:
    feed = feed_message()
    feed.entity.add(id="ok").vehicle.vehicle.id = "BUS-1"
    feed.entity.add().vehicle.vehicle.id = "BUS-2"
    return encoded(feed)


def empty_entity() -> bytes:
    feed = feed_message()
    feed.entity.add(id="hollow")
    return encoded(feed)


@pytest.mark.parametrize(
    ("content", "rule", "fix"),
    [
        (
            b'{"header": {"gtfs_realtime_version": "2.0"}}',
            "a GTFS-Realtime feed is a protobuf FeedMessage (GTFS-Realtime reference, FeedMessage)",
            "send the binary FeedMessage",
        ),
        (
            encoded(feed_message(version="")),
            "GTFS-Realtime requires header.gtfs_realtime_version (GTFS-Realtime reference, "
            "FeedHeader): the FeedMessage has none",
            'set it to the version the feed follows, e.g. "2.0"',
        ),
        (
            encoded(feed_message(timestamp=None)),
            "GTFS-Realtime 2.0 requires header.timestamp (GTFS-Realtime reference, FeedHeader)",
            "set it to the POSIX time",
        ),
        (
            without_id(),
            "GTFS-Realtime requires an id on every FeedEntity (GTFS-Realtime reference, "
            "FeedEntity): entity 2 of 2 has none",
            "give every entity a feed-unique id",
        ),
        (
            empty_entity(),
            "GTFS-Realtime requires a FeedEntity to carry a trip_update, vehicle, alert or shape",
            "drop the empty entity or fill it",
        ),
    ],
    ids=["not-protobuf", "no-version", "2.0-without-timestamp", "entity-without-id", "empty"],
)
def test_what_the_reference_forbids_of_a_feed_is_one_line(
    content: bytes, rule: str, fix: str
) -> None:
    with pytest.raises(ParseError) as raised:
        transit_gtfs_rt.parse(content)
    message = one_line(raised)
    assert message.startswith(rule) and fix in message


def bad_row(kind: str) -> rt.FeedMessage:
    """A feed of one good StopTimeUpdate and one vehicle, plus one row that breaks ``kind``."""
    feed = feed_message()
    good = feed.entity.add(id="good").trip_update
    good.trip.trip_id = "T1"
    good.stop_time_update.add(stop_sequence=1).arrival.time = T0 - 60
    vehicle = feed.entity.add(id="bus").vehicle
    vehicle.vehicle.id = "BUS-1"
    vehicle.position.latitude, vehicle.position.longitude = 16.4, 102.8
    if kind == "position":
        broken = feed.entity.add(id="x").vehicle
        broken.vehicle.id = "BUS-2"
        broken.position.latitude = 16.4  # longitude is required too
        return feed
    update = feed.entity.add(id="x").trip_update
    update.trip.trip_id = "T2"
    stop = update.stop_time_update.add(stop_sequence=1)
    if kind == "trip":
        update.trip.ClearField("trip_id")
        update.trip.route_id, update.trip.start_time = "B10", "14:00:00"
        stop.arrival.time = T0
    elif kind == "stop":
        stop.ClearField("stop_sequence")
        stop.arrival.time = T0
    elif kind == "event":
        stop.arrival.uncertainty = 30  # an event with neither time nor delay
    return feed  # kind "scheduled": a SCHEDULED stop with neither arrival nor departure


@pytest.mark.parametrize(
    ("kind", "table", "reason"),
    [
        (
            "trip",
            TRIPS,
            "TripDescriptor without trip_id needs route_id, direction_id, start_time and "
            "start_date (GTFS-Realtime reference, TripDescriptor): direction_id, start_date "
            "missing",
        ),
        (
            "stop",
            TRIPS,
            "StopTimeUpdate needs stop_sequence or stop_id (GTFS-Realtime reference, "
            "StopTimeUpdate): both missing",
        ),
        (
            "event",
            TRIPS,
            "StopTimeEvent needs time or delay (GTFS-Realtime reference, StopTimeEvent): "
            "arrival has neither",
        ),
        (
            "scheduled",
            TRIPS,
            "a SCHEDULED StopTimeUpdate needs arrival or departure (GTFS-Realtime reference, "
            "StopTimeUpdate): both missing",
        ),
        (
            "position",
            VEHICLES,
            "Position needs latitude and longitude (GTFS-Realtime reference, Position): "
            "longitude missing",
        ),
    ],
)
def test_a_row_the_reference_forbids_is_quarantined_the_rest_loads(
    kind: str, table: str, reason: str
) -> None:
    parsed = transit_gtfs_rt.parse(encoded(bad_row(kind)))

    [reject] = parsed.rejects
    assert (reject.table, reject.row_number, reject.reason) == (table, 2, reason)
    assert "\n" not in reject.reason
    assert [r["trip_key"] for r in parsed.rows[TRIPS]] == ["T1"]
    assert [r["vehicle_key"] for r in parsed.rows[VEHICLES]] == ["BUS-1"]
    assert parsed.received == 3  # received = loaded + quarantined


# --------------------------------------------------------------------------- GTFS static


MINIMAL_GTFS = {
    # only the required files and columns; service by date; a single agency without agency_id
    "agency.txt": "agency_name,agency_url,agency_timezone\nKKTS,https://kkts.example,"
    "Asia/Bangkok\n",
    "routes.txt": "route_id,route_short_name,route_type\nR1,1,3\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
    "S1,One,16.43,102.83\nS2,Two,16.44,102.82\nS3,Three,16.45,102.81\nS4,Four,16.46,102.8\n",
    "trips.txt": "route_id,service_id,trip_id\nR1,WD,T1\nR1,WD,T2\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,08:00:00,08:00:00,S1,1\nT1,08:10:00,08:10:00,S2,2\nT1,08:20:00,08:20:00,S3,3\n"
    "T2,09:00:00,09:00:00,S4,1\nT2,09:10:00,09:10:00,S2,2\n",
    "calendar_dates.txt": "service_id,date,exception_type\nWD,20261116,1\nWD,20261117,1\n",
}
FULL_GTFS = {
    **{name: text for name, text in MINIMAL_GTFS.items() if name != "calendar_dates.txt"},
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\nWD,1,1,1,1,1,0,0,20260101,20261231\n",
    "feed_info.txt": "feed_publisher_name,feed_publisher_url,feed_lang\nKKTS,https://kkts.example,"
    "th\n",
    "shapes.txt": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\nSH1,16.43,102.83,1\n",
    "frequencies.txt": "trip_id,start_time,end_time,headway_secs\nT1,08:00:00,10:00:00,600\n",
}


def gtfs_zip(files: dict[str, str]) -> bytes:
    """A zip of the given members, as text in UTF-8."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()


def test_a_feed_with_only_the_required_files_loads() -> None:
    parsed = transit_gtfs.parse(gtfs_zip(MINIMAL_GTFS))

    assert parsed.rejects == [] and parsed.missing == {}
    assert set(parsed.rows) == {
        "transit_gtfs_agency",
        "transit_gtfs_routes",
        "transit_gtfs_stops",
        "transit_gtfs_trips",
        "transit_gtfs_stop_times",
        "transit_gtfs_calendar_dates",
    }
    assert [r["date"] for r in parsed.rows["transit_gtfs_calendar_dates"]] == [
        date(2026, 11, 16),
        date(2026, 11, 17),
    ]
    assert parsed.rows["transit_gtfs_agency"][0]["agency_id"] == "KKTS"  # filled from the name


def test_optional_files_not_loaded_are_ignored_when_present() -> None:
    parsed = transit_gtfs.parse(gtfs_zip(FULL_GTFS))

    assert parsed.rejects == []
    assert len(parsed.rows["transit_gtfs_calendar"]) == 1
    assert len(parsed.rows["transit_gtfs_feed_info"]) == 1
    assert "transit_gtfs_calendar_dates" not in parsed.rows


def without(files: dict[str, str], *names: str, **replaced: str) -> bytes:
    kept = {name: text for name, text in files.items() if name not in names}
    return gtfs_zip({**kept, **{f"{name}.txt": text for name, text in replaced.items()}})


@pytest.mark.parametrize(
    ("content", "rule", "fix"),
    [
        (
            b"route_id,route_type\nR1,3\n",
            "a GTFS feed is a zip archive of .txt files (GTFS Schedule reference, 'Dataset Files')",
            "send the feed's .zip as published",
        ),
        (
            without(MINIMAL_GTFS, "agency.txt", "stops.txt"),
            "GTFS requires agency.txt and stops.txt (GTFS Schedule reference, 'Dataset Files')",
            "add them to the feed",
        ),
        (
            without(MINIMAL_GTFS, "calendar_dates.txt"),
            "GTFS requires calendar.txt or calendar_dates.txt (GTFS Schedule reference, 'Dataset "
            "Files': one of the two",
            "add calendar.txt (weekly pattern) or calendar_dates.txt (service by date)",
        ),
        (
            without(MINIMAL_GTFS, trips="route_id,trip_id\nR1,T1\n"),
            "GTFS requires column 'service_id' in trips.txt (GTFS Schedule reference, 'trips.txt')",
            "add service_id to the header and to every row",
        ),
        (
            without(
                MINIMAL_GTFS,
                agency="agency_name,agency_url,agency_timezone\n"
                "KKTS,https://kkts.example,Asia/Bangkok\nSongthaew,https://s.example,Asia/Bangkok\n",
            ),
            "GTFS requires column 'agency_id' in agency.txt when it lists several agencies",
            "give each agency an agency_id",
        ),
        (
            without(MINIMAL_GTFS, stops=""),
            "a GTFS file starts with a header line naming its columns (GTFS Schedule reference, "
            "'File Requirements'): stops.txt is empty",
            "write its header line",
        ),
    ],
    ids=["not-a-zip", "no-agency-no-stops", "no-calendar", "no-column", "agencies", "empty"],
)
def test_what_the_gtfs_reference_forbids_is_one_line(content: bytes, rule: str, fix: str) -> None:
    with pytest.raises(ParseError) as raised:
        transit_gtfs.parse(content)
    message = one_line(raised)
    assert message.startswith(rule) and fix in message


def test_the_snapshot_empties_the_tables_of_files_a_new_feed_leaves_out(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "data")
    source = Source(dataset=transit_gtfs.DATASET, url="file:///")

    def ingest(files: dict[str, str], name: str) -> str:
        path = tmp_path / name
        path.write_bytes(gtfs_zip(files))
        return ingest_file(warehouse, transit_gtfs, source, path, None).status

    def counts() -> dict[str, int]:
        with warehouse.read() as con:
            return {
                table.name: con.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
                for table in transit_gtfs.TABLES
            }

    assert ingest(FULL_GTFS, "full.zip") == "loaded"
    before = counts()
    assert (before["transit_gtfs_calendar"], before["transit_gtfs_calendar_dates"]) == (1, 0)
    assert before["transit_gtfs_feed_info"] == 1

    assert ingest(MINIMAL_GTFS, "minimal.zip") == "loaded"
    after = counts()
    assert after["transit_gtfs_calendar"] == after["transit_gtfs_feed_info"] == 0
    assert after["transit_gtfs_calendar_dates"] == 2
    assert after["transit_gtfs_stop_times"] == before["transit_gtfs_stop_times"] == 5


# --------------------------------------------------------------------------- check_kind


PASSWD = b"root:x:0:0:root:/root:/bin/bash\n"
RT_ARCHIVE = gtfs_zip({"2026-11-16/trip-updates.pb": ""})  # a zip of (here empty) feeds


@pytest.mark.parametrize(
    ("connector", "content"),
    [
        (transit_gtfs, gtfs_zip(MINIMAL_GTFS)),
        (transit_gtfs, gtfs_zip(MINIMAL_GTFS)[:300]),  # cut short: landed, then rejected
        (transit_gtfs_rt, encoded(minimal_vehicles())),
        (transit_gtfs_rt, encoded(feed_message())),  # no entity: no service right now
        (transit_gtfs_rt, RT_ARCHIVE),
        (transit_ridership, b'\xef\xbb\xbf {"data": [], "links": {"next": null}}'),
        (transit_ridership, b'{"data": [{"service_date": "2026-11-16"'),  # cut short
    ],
)
def test_check_kind_lets_the_right_kind_through(connector, content: bytes) -> None:
    connector.check_kind(content)


@pytest.mark.parametrize(
    ("connector", "content", "said"),
    [
        (transit_gtfs, PASSWD, "is text starting 'root:x:0:0:root:/root:/bin/bash', not a zip"),
        (
            transit_gtfs,
            RT_ARCHIVE,
            "is a zip archive without any .txt file (2026-11-16/trip-updates.pb)",
        ),
        (transit_gtfs_rt, PASSWD, "is text starting 'root:x:0:0:root"),
        (transit_gtfs_rt, b"", "is empty, not a GTFS-Realtime FeedMessage"),
        (transit_gtfs_rt, b'{"header": {}}', "is text starting '{\"header\": {}}'"),
        (transit_gtfs_rt, b"<!DOCTYPE html><p>down</p>", "is an HTML page"),
        (transit_gtfs_rt, gtfs_zip(MINIMAL_GTFS), "is a zip archive without any .pb member"),
        (transit_ridership, b"service_date,tap_ins\n2026-11-16,5\n", "is text starting"),
        (transit_ridership, b'[{"tap_ins": 5}]', "is a JSON array"),
        (
            transit_ridership,
            b'{"error": "down"}',
            "is a JSON object without a 'data' list (members: 'error')",
        ),
        (transit_ridership, gtfs_zip(MINIMAL_GTFS), "is a zip archive, not a JSON object"),
    ],
)
def test_check_kind_refuses_another_kind_in_one_line(connector, content: bytes, said: str) -> None:
    with pytest.raises(WrongKindError) as raised:
        connector.check_kind(content)
    message = one_line(raised)
    assert message.startswith(said) and f"{connector.DATASET} takes" in message


def test_ingest_file_refuses_a_file_of_another_kind_before_landing(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(PASSWD)
    warehouse = Warehouse(tmp_path / "data")
    source = Source(dataset=transit_gtfs_rt.DATASET, url="file:///")

    with pytest.raises(WrongKindError, match=r"transit\.gtfs_rt: .*passwd refused, nothing landed"):
        ingest_file(warehouse, transit_gtfs_rt, source, path, None)
    assert not warehouse.raw_dir.exists() or not any(warehouse.raw_dir.rglob("*"))


# --------------------------------------------------------------------------- emulator shapes


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    afternoon = datetime(2026, 11, 26, 14, 30, tzinfo=BANGKOK)
    server = build(Clock(date(2026, 11, 26), history_days=3), wall_clock=lambda: afternoon).start()
    yield server
    server.stop()


def fetched(emulator: Emulator, connector, **options: str) -> list[bytes]:
    source = Source(
        dataset=connector.DATASET, url=emulator.url, backoff_seconds=0.01, options=options
    )
    with make_client(source) as client:
        return [page.content for page in connector.extract(client, source, None)]


@pytest.mark.emulator
def test_emulator_minimal_gtfs_has_only_required_files(emulator: Emulator) -> None:
    emulator.faults.data["shape"] = "minimal"
    [content] = fetched(emulator, transit_gtfs)

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = sorted(archive.namelist())
        agency = next(csv.reader(io.StringIO(archive.read("agency.txt").decode())))
    assert names == [
        "agency.txt",
        "calendar_dates.txt",
        "routes.txt",
        "stop_times.txt",
        "stops.txt",
        "trips.txt",
    ]
    assert agency == ["agency_name", "agency_url", "agency_timezone"]
    transit_gtfs.check_kind(content)
    parsed = transit_gtfs.parse(content)
    assert parsed.rejects == [] and parsed.missing == {}
    dates = parsed.rows["transit_gtfs_calendar_dates"]
    services = {(r["date"], r["service_id"]) for r in dates}
    assert (date(2026, 11, 26), "WD") in services and (date(2026, 11, 28), "WE") in services
    assert {r["exception_type"] for r in dates} == {1}
    assert len(parsed.rows["transit_gtfs_stop_times"]) > 5000


@pytest.mark.emulator
def test_emulator_minimal_realtime_loads_with_nulls(emulator: Emulator) -> None:
    emulator.faults.data["shape"] = "minimal"
    trips, vehicles = fetched(emulator, transit_gtfs_rt)

    for content in (trips, vehicles):
        transit_gtfs_rt.check_kind(content)
        header = rt.FeedMessage.FromString(content).header
        assert not header.HasField("incrementality") and header.HasField("timestamp")
    parsed_trips = transit_gtfs_rt.parse(trips)
    parsed_vehicles = transit_gtfs_rt.parse(vehicles)

    assert parsed_trips.rejects == parsed_vehicles.rejects == []
    rows = parsed_trips.rows[TRIPS]
    assert len(rows) > 1000
    assert all(r["trip_id"] is None and r["trip_key"].startswith("route ") for r in rows)
    assert all(r["stop_sequence"] is None and r["stop_key"].startswith("stop ") for r in rows)
    assert all(r["arrival_delay"] is None and r["departure_time"] is None for r in rows)
    predicted = {r["is_predicted"] for r in rows}
    assert predicted == {True, False}  # told apart by time: the shape gives no uncertainty
    positions = parsed_vehicles.rows[VEHICLES]
    assert len(positions) > 10
    assert all(r["trip_id"] is None and r["position_timestamp"] is None for r in positions)
    assert all(r["observed_at"] == r["feed_timestamp"] for r in positions)
    assert len({r["vehicle_key"] for r in positions}) == len(positions)


@pytest.mark.emulator
def test_emulator_minimal_archive_loads_with_nulls(emulator: Emulator) -> None:
    emulator.faults.data["shape"] = "minimal"
    [month] = fetched(
        emulator,
        transit_gtfs_rt,
        archive_days="2",
        as_of="2026-11-26",
        trip_updates_path="",
        vehicle_positions_path="",
    )

    parsed = transit_gtfs_rt.parse(month)

    rows = parsed.rows[TRIPS]
    assert parsed.rejects == [] and rows
    assert {r["start_date"] for r in rows} == {
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
    }
    assert not any(r["is_predicted"] for r in rows)  # every arrival is before the day closed


@pytest.mark.emulator
def test_minimal_shapes_pass_every_critical_check(emulator: Emulator, tmp_path: Path) -> None:
    from expectations.gate import Gate
    from warehouse.validation import Checks

    emulator.faults.data["shape"] = "minimal"
    [static] = fetched(emulator, transit_gtfs)
    realtime = fetched(emulator, transit_gtfs_rt)
    gate = Gate(tmp_path / "gx")
    checks = Checks("b", None, None)

    failures = set()
    for connector, contents in ((transit_gtfs, [static]), (transit_gtfs_rt, realtime)):
        for content in contents:
            parsed = connector.parse(content)
            for table in connector.TABLES:
                rows = parsed.rows.get(table.name, [])
                if rows:
                    failures |= {
                        (o.table, o.expectation)
                        for o in gate(table, rows, set(), checks)
                        if not o.success and o.severity == "critical"
                    }
    assert failures == set()


# --------------------------------------------------------------------------- dbt: TR03, TR04


def day_feed() -> bytes:
    """An end-of-day feed of service day 16 November 2026 with rows TR03 and TR04 must skip."""
    closed = int(datetime(2026, 11, 17, 2, 0, tzinfo=BANGKOK).timestamp())
    feed = feed_message(timestamp=closed)

    def at(hours: int, minutes: int) -> int:
        return int(datetime(2026, 11, 16, hours, minutes, tzinfo=BANGKOK).timestamp())

    t1 = feed.entity.add(id="t1").trip_update
    t1.trip.trip_id, t1.trip.start_date = "T1", "20261116"
    t1.stop_time_update.add(stop_sequence=1, stop_id="S1").arrival.time = at(8, 1)  # on time
    t1.stop_time_update.add(stop_id="S2").arrival.time = at(8, 17)  # by stop_id: 7 min late
    t1.stop_time_update.add(stop_sequence=3, stop_id="S3").departure.time = at(8, 21)  # no arrival
    by_route = feed.entity.add(id="r").trip_update  # no trip_id: TR03 cannot match it
    by_route.trip.route_id, by_route.trip.direction_id = "R1", 0
    by_route.trip.start_time, by_route.trip.start_date = "08:00:00", "20261116"
    by_route.stop_time_update.add(stop_id="S1").arrival.time = at(8, 3)
    undated = feed.entity.add(id="t2").trip_update  # no start_date: no service day
    undated.trip.trip_id = "T2"
    undated.stop_time_update.add(stop_sequence=1, stop_id="S4").arrival.time = at(9, 0)
    return encoded(feed)


def test_dbt_builds_on_minimal_feeds_and_tr03_tr04_skip_what_they_cannot_use(
    tmp_path: Path,
) -> None:
    warehouse = Warehouse(tmp_path / "data")
    with warehouse.write() as con:  # every source dbt reads exists, most of them empty
        for dataset in DATASETS:
            for table in connector_for(dataset).TABLES:
                ensure_table(con, table)
    loaded = {}
    for connector, name, content in (
        (transit_gtfs, "feed.zip", gtfs_zip(MINIMAL_GTFS)),
        (transit_gtfs_rt, "2026-11-16.pb", day_feed()),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        source = Source(dataset=connector.DATASET, url="file:///")
        loaded[name] = ingest_file(warehouse, connector, source, path, None)
    assert {r.status for r in loaded.values()} == {"loaded"}

    result, _ = dbt(
        warehouse.path.resolve(),
        tmp_path,
        "build",
        "--select",
        "+int_transport_kpis_computed",
        "--indirect-selection",
        "cautious",  # only the tests of what is built (not those of other areas' seeds' users)
        "--vars",
        json.dumps({"today": "2026-11-18"}),  # the day after the hand-written feed's day
    )

    assert result.success, [
        (r.node.unique_id, r.status, r.message) for r in result.result if r.status != "success"
    ]
    unit_tests = {r.node.name for r in result.result if r.node.resource_type == "unit_test"}
    assert {
        "test_stop_arrivals_matched_skip_what_the_feed_left_out",
        "test_transport_kpis_tr03_tr04_skip_updates_without_day_or_stop",
        "test_transport_kpis_tr05_service_by_date_only",
    } <= unit_tests  # the formulas on hand-written rows, too
    with warehouse.read() as con:
        arrivals = con.execute(
            "select trip_id, stop_sequence, is_on_time from intermediate.int_stop_arrivals_matched "
            "order by 1, 2"
        ).fetchall()
        kpis = con.execute(
            "select kpi_id, route_id, period_start, numerator, denominator, value "
            "from intermediate.int_transport_kpis_computed where kpi_id in ('TR03', 'TR04') "
            "order by 1"
        ).fetchall()
    assert arrivals == [("T1", 1, True), ("T1", 2, False)]  # S2 matched by its stop_id
    day = date(2026, 11, 16)
    assert kpis == [
        ("TR03", "R1", day, 1.0, 2.0, 0.5),
        ("TR04", None, day, 3.0, 4.0, 0.75),  # S1, S2, S3; S4 only on the undated trip
    ]
