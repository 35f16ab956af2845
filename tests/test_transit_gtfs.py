"""transit.gtfs: parsing any GTFS zip, and the KKTS feed served by the emulator."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from connectors import transit_gtfs
from connectors.base import Parsed, ParseError, Source
from connectors.http import make_client
from emulators.server import Emulator
from emulators.synthetic import MUNICIPALITIES, Clock
from emulators.transit import build

FEED = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
    "A,Agency,https://a.example,Asia/Bangkok\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,1,One,3\n",
    "trips.txt": "route_id,service_id,trip_id\nR1,WD,T1\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS1,One,16.4,102.8\nS2,Two,16.5,102.9\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,24:35:00,24:35:00,S1,1\nT1,25:05:00,25:06:30,S2,2\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\nWD,1,1,1,1,1,0,0,20260101,20261231\n",
}


def make_zip(files: dict[str, str | bytes], folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(folder + name, text if isinstance(text, bytes) else text.encode())
    return buffer.getvalue()


def feed(**changes: str | bytes | None) -> bytes:
    files = {**FEED, **{f"{name}.txt": text for name, text in changes.items()}}
    return make_zip({name: text for name, text in files.items() if text is not None})


# --------------------------------------------------------------------------- unit: parse


def test_parse_minimal_feed_keeps_times_as_text_and_adds_seconds() -> None:
    parsed = transit_gtfs.parse(feed())

    assert parsed.rejects == []
    stop_times = parsed.rows["transit_gtfs_stop_times"]
    assert [(r["arrival_time"], r["arrival_time_seconds"]) for r in stop_times] == [
        ("24:35:00", 88_500),
        ("25:05:00", 90_300),
    ]
    assert stop_times[1]["departure_time_seconds"] == 90_390
    assert stop_times[0]["stop_sequence"] == 1
    calendar = parsed.rows["transit_gtfs_calendar"][0]
    assert (calendar["start_date"], calendar["end_date"]) == (date(2026, 1, 1), date(2026, 12, 31))
    assert calendar["saturday"] == 0
    stop = parsed.rows["transit_gtfs_stops"][0]
    assert stop["stop_lat"] == pytest.approx(16.4)
    assert stop["zone_id"] is None  # optional column absent
    assert parsed.rows["transit_gtfs_routes"][0]["route_type"] == 3
    assert "transit_gtfs_calendar_dates" not in parsed.rows  # optional file absent
    assert parsed.missing == {}  # optional columns absent are null, not drift
    assert [r["_row"] for r in stop_times] == [1, 2]  # position among the file's records
    assert transit_gtfs.FRESHNESS is None  # a timetable has no event time


def test_parse_tolerates_bom_quotes_column_order_unknown_columns_and_a_folder() -> None:
    stops = (
        "\ufeffstop_lon,x_operator_note,stop_id,stop_name,stop_lat,zone_id\n"
        '102.84,"note, with comma",S1,"ตลาด, เหนือ",16.43,khon_kaen_city\n'
        '102.9,,S2,"He said ""hi""",16.5,sila\n'
    )
    stop_times = (
        "stop_sequence,stop_id,trip_id,departure_time,arrival_time\n"
        "1,S1,T1,5:30:00,5:30:00\n2,S2,T1,5:41:00,5:40:00\n"
    )
    content = make_zip(
        {**FEED, "stops.txt": stops.encode("utf-8"), "stop_times.txt": stop_times}, "kkts/"
    )

    parsed = transit_gtfs.parse(content)

    assert parsed.rejects == []
    rows = {r["stop_id"]: r for r in parsed.rows["transit_gtfs_stops"]}
    assert rows["S1"]["stop_name"] == "ตลาด, เหนือ"
    assert rows["S1"]["zone_id"] == "khon_kaen_city"
    assert rows["S2"]["stop_name"] == 'He said "hi"'
    assert rows["S1"]["stop_lon"] == pytest.approx(102.84)
    assert "x_operator_note" not in rows["S1"]
    first = parsed.rows["transit_gtfs_stop_times"][0]
    assert (first["arrival_time"], first["arrival_time_seconds"]) == ("5:30:00", 19_800)


def test_calendar_dates_replaces_calendar_when_calendar_is_absent() -> None:
    dates = "service_id,date,exception_type\nWD,20261125,1\nWD,20261126,1\n"

    parsed = transit_gtfs.parse(feed(calendar=None, calendar_dates=dates))

    assert "transit_gtfs_calendar" not in parsed.rows
    rows = parsed.rows["transit_gtfs_calendar_dates"]
    assert [(r["service_id"], r["date"], r["exception_type"]) for r in rows] == [
        ("WD", date(2026, 11, 25), 1),
        ("WD", date(2026, 11, 26), 1),
    ]


def test_single_agency_without_agency_id_is_keyed_by_its_name() -> None:
    agency = "agency_name,agency_url,agency_timezone\nKKTS,https://k.example,Asia/Bangkok\n"

    parsed = transit_gtfs.parse(feed(agency=agency))

    assert parsed.rejects == []
    assert parsed.rows["transit_gtfs_agency"][0]["agency_id"] == "KKTS"


def test_conditionally_required_column_absent_is_drift_typed_null() -> None:
    stops = "stop_id,stop_name,stop_lon\nS1,One,102.8\nS2,Two,102.9\n"
    stop_times = "trip_id,stop_id,stop_sequence\nT1,S1,1\nT1,S2,2\n"

    parsed = transit_gtfs.parse(feed(stops=stops, stop_times=stop_times))

    assert parsed.rejects == []
    assert parsed.missing == {
        "transit_gtfs_stops": {"stop_lat"},
        "transit_gtfs_stop_times": {
            "arrival_time",
            "arrival_time_seconds",
            "departure_time",
            "departure_time_seconds",
        },
    }
    assert [(s["stop_id"], s["stop_lat"]) for s in parsed.rows["transit_gtfs_stops"]] == [
        ("S1", None),
        ("S2", None),
    ]
    assert [s["arrival_time"] for s in parsed.rows["transit_gtfs_stop_times"]] == [None, None]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stops": None}, "GTFS requires stops.txt (GTFS Schedule reference, 'Dataset Files')"),
        ({"calendar": None}, "GTFS requires calendar.txt or calendar_dates.txt"),
        (
            {"stop_times": "trip_id,arrival_time,departure_time,stop_id\nT1,1:00:00,1:00:00,S1\n"},
            "GTFS requires column 'stop_sequence' in stop_times.txt",
        ),
        (
            {"routes": "route_id,route_short_name\nR1,1\n"},
            "GTFS requires column 'route_type' in routes.txt",
        ),
        ({"trips": ""}, "trips.txt is empty"),
    ],
)
def test_missing_required_file_or_column_raises(changes: dict, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)) as raised:
        transit_gtfs.parse(feed(**changes))
    assert "\n" not in str(raised.value)  # one line: the rule, what is wrong, the fix


def test_not_a_zip_raises() -> None:
    with pytest.raises(ParseError, match="not a readable zip"):
        transit_gtfs.parse(b"<html>maintenance</html>")
    with pytest.raises(ParseError):
        transit_gtfs.parse(feed()[:200])  # truncated download


def test_bad_rows_become_rejects_naming_file_line_and_column() -> None:
    stop_times = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,24:35:00,24:35:00,S1,1\n"
        "T1,n/a,25:05:00,S2,2\n"
        "T1,25:10:00,25:10:00,S2,three\n"
        "T1,25:20:00,25:20:00,S2\n"
        "T1,25:30:00,25:30:00,S1,5\n"
    )
    stops = b"stop_id,stop_name,stop_lat,stop_lon\nS1,One,16.4,102.8\nS2,Bad \xff\xfe,16.5,102.9\n"

    parsed = transit_gtfs.parse(feed(stop_times=stop_times, stops=stops))

    reasons = {(r.table, r.row_number): r.reason for r in parsed.rejects}
    assert set(reasons) == {
        ("transit_gtfs_stop_times", 2),
        ("transit_gtfs_stop_times", 3),
        ("transit_gtfs_stop_times", 4),
        ("transit_gtfs_stops", 2),
    }
    assert reasons[("transit_gtfs_stop_times", 2)].startswith("stop_times.txt line 3: ")
    assert "'arrival_time'" in reasons[("transit_gtfs_stop_times", 2)]
    assert "'stop_sequence'" in reasons[("transit_gtfs_stop_times", 3)]
    assert "'stop_sequence'" in reasons[("transit_gtfs_stop_times", 4)]
    assert (
        reasons[("transit_gtfs_stops", 2)]
        == "stops.txt line 3: column 'stop_name': not valid UTF-8"
    )
    assert [r["stop_sequence"] for r in parsed.rows["transit_gtfs_stop_times"]] == [1, 5]
    assert [r["_row"] for r in parsed.rows["transit_gtfs_stop_times"]] == [1, 5]
    assert [r["stop_id"] for r in parsed.rows["transit_gtfs_stops"]] == ["S1"]
    bad = next(r for r in parsed.rejects if r.row_number == 2 and r.table.endswith("stops"))
    assert "Bad" in bad.payload and "\ufffd" in bad.payload


# --------------------------------------------------------------------------- unit: extract


def test_extract_fetches_one_zip_without_watermark() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, content=feed())

    source = Source(
        dataset=transit_gtfs.DATASET, url="http://kkts.test", options={"path": "/x.zip"}
    )
    with make_client(source, httpx.MockTransport(handler)) as client:
        pages = list(transit_gtfs.extract(client, source, "ignored"))

    assert seen == ["/x.zip"]
    assert [(p.extension, p.watermark_after) for p in pages] == [("zip", None)]
    assert transit_gtfs.parse(pages[0].content).rows["transit_gtfs_trips"][0]["trip_id"] == "T1"


# --------------------------------------------------------------------------- the emulator

IN_PROVINCE = ((15.6, 17.2), (101.6, 103.3))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = build(Clock(date(2026, 11, 26), history_days=30)).start()
    yield server
    server.stop()


def load(emulator: Emulator) -> tuple[bytes, Parsed]:
    source = Source(dataset=transit_gtfs.DATASET, url=emulator.url, backoff_seconds=0.01)
    with make_client(source) as client:
        (page,) = transit_gtfs.extract(client, source, None)
    return page.content, transit_gtfs.parse(page.content)


@pytest.mark.emulator
def test_emulator_feed_is_a_clean_network_over_six_municipalities(emulator: Emulator) -> None:
    content, parsed = load(emulator)
    rows = parsed.rows

    assert parsed.rejects == []
    stops = {s["stop_id"]: s for s in rows["transit_gtfs_stops"]}
    assert {s["zone_id"] for s in stops.values()} == {m.municipality_id for m in MUNICIPALITIES}
    (lat_range, lon_range) = IN_PROVINCE
    assert all(lat_range[0] < s["stop_lat"] < lat_range[1] for s in stops.values())
    assert all(lon_range[0] < s["stop_lon"] < lon_range[1] for s in stops.values())
    routes = {r["route_id"]: r for r in rows["transit_gtfs_routes"]}
    assert routes["LRT1"]["route_type"] == 0
    assert {r["route_type"] for r in routes.values()} == {0, 3}
    # the LRT runs Samran → city centre → Tha Phra; the bus routes reach every municipality
    trips = {t["trip_id"]: t for t in rows["transit_gtfs_trips"]}
    by_trip: dict[str, list[dict]] = {}
    for stop_time in rows["transit_gtfs_stop_times"]:
        by_trip.setdefault(stop_time["trip_id"], []).append(stop_time)
    lrt = next(t for t in trips.values() if t["route_id"] == "LRT1" and t["direction_id"] == 0)
    zones = [stops[s["stop_id"]]["zone_id"] for s in by_trip[lrt["trip_id"]]]
    assert (zones[0], zones[-1]) == ("samran", "tha_phra") and "khon_kaen_city" in zones
    bus_zones = {
        stops[s["stop_id"]]["zone_id"]
        for trip_id, times in by_trip.items()
        if routes[trips[trip_id]["route_id"]]["route_type"] == 3
        for s in times
    }
    assert len(bus_zones) == 6
    # referential integrity, unique keys, times in order, service after midnight
    stop_times = rows["transit_gtfs_stop_times"]
    assert Counter((s["trip_id"], s["stop_sequence"]) for s in stop_times).most_common(1)[0][1] == 1
    assert {s["trip_id"] for s in stop_times} == set(trips)
    assert {s["stop_id"] for s in stop_times} <= set(stops)
    for times in by_trip.values():
        seconds = [
            x for s in times for x in (s["arrival_time_seconds"], s["departure_time_seconds"])
        ]
        assert seconds == sorted(seconds)
    late = [s for s in stop_times if s["arrival_time_seconds"] >= 25 * 3600]
    assert late and all(s["arrival_time"].startswith("25:") for s in late)
    assert any(s["arrival_time"].startswith("24:") for s in stop_times)
    calendar = {c["service_id"]: c for c in rows["transit_gtfs_calendar"]}
    assert set(calendar) == {t["service_id"] for t in trips.values()} == {"WD", "WE"}
    assert all(
        c["start_date"] <= date(2026, 10, 27) and c["end_date"] >= date(2026, 11, 26)
        for c in calendar.values()
    )
    # a full snapshot with no watermark: the same bytes every time
    again, _ = load(emulator)
    assert hashlib.sha256(again).digest() == hashlib.sha256(content).digest()


@pytest.mark.emulator
def test_emulator_malformed_rows_become_rejects(emulator: Emulator) -> None:
    emulator.faults.data["malformed_rows"] = 2

    _, parsed = load(emulator)

    reasons = sorted(r.reason for r in parsed.rejects)
    assert len(reasons) == 2
    assert reasons[0].startswith("stop_times.txt line ") and "'arrival_time'" in reasons[0]
    assert reasons[1].startswith("stops.txt line ") and "'stop_lat'" in reasons[1]
    assert len(parsed.rows["transit_gtfs_stop_times"]) > 9000
    assert all(isinstance(s["stop_sequence"], int) for s in parsed.rows["transit_gtfs_stop_times"])


@pytest.mark.emulator
def test_emulator_data_faults(emulator: Emulator) -> None:
    emulator.faults.data.update(out_of_range=1, duplicate_rows=3, unknown_codes=1)
    _, parsed = load(emulator)
    rows = parsed.rows

    outside = [s for s in rows["transit_gtfs_stops"] if s["stop_lat"] < 15.6]
    assert len(outside) == 1
    keys = Counter((s["trip_id"], s["stop_sequence"]) for s in rows["transit_gtfs_stop_times"])
    assert sum(n - 1 for n in keys.values()) == 3
    assert [r["route_type"] for r in rows["transit_gtfs_routes"]].count(42) == 1

    emulator.faults.data.clear()
    emulator.faults.data["missing_column"] = "zone_id"  # optional: null, the feed is valid
    _, parsed = load(emulator)
    assert {s["zone_id"] for s in parsed.rows["transit_gtfs_stops"]} == {None}
    assert parsed.missing == {}

    emulator.faults.data["missing_column"] = "stop_lat"  # conditionally required: drift
    _, parsed = load(emulator)
    assert parsed.missing == {"transit_gtfs_stops": {"stop_lat"}} and parsed.rejects == []
    assert {s["stop_lat"] for s in parsed.rows["transit_gtfs_stops"]} == {None}

    emulator.faults.data["missing_column"] = "stop_sequence"
    expected = "GTFS requires column 'stop_sequence' in stop_times.txt"
    with pytest.raises(ParseError, match=re.escape(expected)):
        load(emulator)
