"""City LoRaWAN sensors (ChirpStack v4 via the pull relay): parse, paging, emulator, data faults."""

from __future__ import annotations

import base64
import itertools
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors import city_sensors, clock
from connectors.base import ROW, Page, Parsed, ParseError, Source, SourceError
from connectors.http import make_client
from emulators import sensors
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, MUNICIPALITIES, Clock

TABLE = "city_sensor_uplinks"
MUNICIPALITY_IDS = {m.municipality_id for m in MUNICIPALITIES}
TODAY = date(2026, 11, 26)


def event(number: int = 1, **changes: Any) -> dict[str, Any]:
    """A ChirpStack v4 ``up`` event as the relay delivers it; ``changes`` replace top-level keys."""
    base = {
        "deduplicationId": f"3ac7e3c4-4401-4b8d-9386-a5c902f9{number:04d}",
        "time": f"2026-11-20T0{number}:00:00.123456789Z",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "เทศบาลนครขอนแก่น",
            "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
            "applicationName": "kkm-air-quality",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "KKM smart chip PM2.5 (AS923)",
            "deviceName": "kkm-pm25-sila-06",
            "devEui": "70b3d57ed0000005",
            "deviceClassEnabled": "CLASS_A",
            "tags": {
                "municipality": "sila",
                "site": "สำนักงานเทศบาลเมืองศิลา",
                "latitude": "16.48120",
                "longitude": "102.82010",
            },
        },
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": 41 + number,
        "fPort": 2,
        "confirmed": False,
        "data": base64.b64encode(bytes([0x01, 0x90, 0x57])).decode(),
        "object": {"pm25": 40.0, "battery": 87.0},
        "rxInfo": [
            {
                "gatewayId": "0016c001ff1a0003",
                "uplinkId": 4217106255,
                "nsTime": f"2026-11-20T0{number}:00:00.180000000Z",
                "rssi": -97,
                "snr": 2.5,
            },
            {
                "gatewayId": "0016c001ff1a0002",
                "uplinkId": 17,
                "nsTime": f"2026-11-20T0{number}:00:00.150000001Z",
                "rssi": -81,
                "snr": 1.25,
            },
        ],
        "txInfo": {
            "frequency": 923200000,
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}
            },
        },
        "regionConfigId": "as923",
    }
    base.update(changes)
    return base


def body(events: list[Any], next_url: str | None = None, ascii: bool = False) -> bytes:
    return json.dumps({"events": events, "next": next_url}, ensure_ascii=ascii).encode()


# --- parse ---


def test_parse_flattens_and_types_an_event() -> None:
    parsed = city_sensors.parse(body([event(1)]))

    assert parsed.rejects == []
    [row] = parsed.rows[TABLE]
    assert set(row) == {*city_sensors.UPLINKS.columns, ROW}
    assert row[ROW] == 1
    assert parsed.missing == {}
    assert row["deduplication_id"] == "3ac7e3c4-4401-4b8d-9386-a5c902f90001"
    assert row["time"] == datetime(2026, 11, 20, 1, 0, 0, 123456, tzinfo=UTC)
    assert row["dev_eui"] == "70b3d57ed0000005"
    assert row["device_profile"] == "KKM smart chip PM2.5 (AS923)"
    assert row["municipality_id"] == "sila"
    assert row["site_name"] == "สำนักงานเทศบาลเมืองศิลา"
    assert (row["device_latitude"], row["device_longitude"]) == (16.4812, 102.8201)
    assert (row["f_cnt"], row["f_port"], row["dr"], row["adr"]) == (42, 2, 5, True)
    assert (row["pm25"], row["water_level_cm"], row["battery"]) == (40.0, None, 87.0)
    assert (row["gateway_count"], row["best_rssi"], row["best_snr"]) == (2, -81, 2.5)
    assert row["best_gateway_id"] == "0016c001ff1a0002"
    # the network server's own receipt time: the earliest nsTime of the gateways
    assert row["ns_time"] == datetime(2026, 11, 20, 1, 0, 0, 150000, tzinfo=UTC)
    assert (row["frequency_hz"], row["spreading_factor"], row["code_rate"]) == (
        923200000,
        7,
        "CR_4_5",
    )
    assert row["data_base64"] == "AZBX"
    assert json.loads(row["object_json"]) == {"pm25": 40.0, "battery": 87.0}
    assert json.loads(row["tags_json"])["site"] == "สำนักงานเทศบาลเมืองศิลา"
    assert len(json.loads(row["rx_info_json"])) == 2


def test_parse_keeps_sentinel_minus_one_and_absent_readings() -> None:
    broken = event(1, object={"pm25": -1, "battery": 80})
    absent = event(2, object={"battery": 80})
    parsed = city_sensors.parse(body([broken, absent]))

    assert [row["pm25"] for row in parsed.rows[TABLE]] == [-1.0, None]
    assert parsed.rejects == []


def test_parse_rejects_bad_rows_naming_the_column_and_keeps_the_rest() -> None:
    no_key = event(2)
    del no_key["deduplicationId"]
    bad_rssi = event(4)
    bad_rssi["rxInfo"][0]["rssi"] = "strong"
    events = [
        event(1),
        no_key,
        event(3, object={"pm25": "n/a", "battery": 90}),
        bad_rssi,
        event(5, data="not base64!"),
        event(6, deviceInfo={**event()["deviceInfo"], "deviceName": "kkm-\udc80"}),
        "not an event",
        event(8, time="yesterday"),
    ]
    parsed = city_sensors.parse(body(events, ascii=True))  # a lone surrogate needs escaping

    assert [(row["f_cnt"], row[ROW]) for row in parsed.rows[TABLE]] == [(42, 1)]
    reasons = {reject.row_number: reject.reason for reject in parsed.rejects}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "deduplication_id" in reasons[2] and "'deduplicationId' is missing" in reasons[2]
    assert "'pm25'" in reasons[3] and "n/a" in reasons[3]
    assert "best_rssi" in reasons[4]
    assert "data_base64" in reasons[5]
    assert "device_name" in reasons[6] and "encoding" in reasons[6]
    assert "expected a JSON object" in reasons[7]
    assert "'time'" in reasons[8]
    bad_text = next(r for r in parsed.rejects if r.row_number == 6).payload
    assert "kkm-\\udc80" in bad_text and bad_text.encode("utf-8")  # storable as it came
    reject = next(r for r in parsed.rejects if r.row_number == 3)
    assert reject.table == TABLE
    assert json.loads(reject.payload)["object"]["pm25"] == "n/a"
    assert parsed.received == len(events)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (body([event(1), event(2)])[:-40], "not valid JSON at line 1"),
        (b'{"data": []}', "no 'events' list"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_parse_raises_on_an_unreadable_response(content: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        city_sensors.parse(content)


def test_rows_keep_their_position_in_the_response() -> None:
    events = [event(1), "not an event", event(3), event(4, time="yesterday"), event(5)]
    parsed = city_sensors.parse(body(events))

    assert [row[ROW] for row in parsed.rows[TABLE]] == [1, 3, 5]
    assert [row["f_cnt"] for row in parsed.rows[TABLE]] == [42, 44, 46]
    assert [reject.row_number for reject in parsed.rejects] == [2, 4]


def test_schema_drift_types_the_rows_and_names_the_missing_columns() -> None:
    """A field gone from every event is for the suite to judge (the batch), not the parser."""
    events = [event(1), event(2)]
    for item in events:
        del item["devAddr"]
        del item["deviceInfo"]["devEui"]
    parsed = city_sensors.parse(body(events))

    assert parsed.missing == {TABLE: {"dev_addr", "dev_eui"}}
    assert parsed.rejects == []
    rows = parsed.rows[TABLE]
    assert [(row["dev_addr"], row["dev_eui"], row[ROW]) for row in rows] == [
        (None, None, 1),
        (None, None, 2),
    ]
    assert [row["pm25"] for row in rows] == [40.0, 40.0]  # the rest is typed as usual


def test_fcnt_gone_from_every_event_is_valid_not_drift() -> None:
    """ChirpStack v4 events may come without fCnt: the rows load with f_cnt null."""
    events = [event(1), event(2)]
    for item in events:
        del item["fCnt"]
    parsed = city_sensors.parse(body(events))

    assert parsed.missing == {} and parsed.rejects == []
    assert [(row["f_cnt"], row["deduplication_id"][-4:]) for row in parsed.rows[TABLE]] == [
        (None, "0001"),
        (None, "0002"),
    ]


def test_a_whole_part_gone_names_every_column_it_fills() -> None:
    events = [event(1), event(2)]
    for item in events:
        del item["rxInfo"]
    parsed = city_sensors.parse(body(events))

    assert parsed.missing[TABLE] == {
        "gateway_count",
        "best_gateway_id",
        "best_rssi",
        "best_snr",
        "rx_info_json",
        "ns_time",
    }
    assert all(row["gateway_count"] is None for row in parsed.rows[TABLE])


def test_a_key_gone_from_every_event_is_drift_typed_null_for_the_suite_to_judge() -> None:
    events = [event(1), event(2)]
    for item in events:
        del item["deduplicationId"]
    parsed = city_sensors.parse(body(events))

    assert parsed.missing == {TABLE: {"deduplication_id"}}
    assert [row["deduplication_id"] for row in parsed.rows[TABLE]] == [None, None]
    assert [row["_row"] for row in parsed.rows[TABLE]] == [1, 2] and parsed.rejects == []


def test_a_reading_is_drift_only_when_gone_from_every_event_of_its_port() -> None:
    flood = {"fPort": 3, "object": {"water_level_cm": 31.5, "battery": 90}}
    no_pm = [event(1, object={"battery": 80}), event(2, object={"battery": 81})]
    assert city_sensors.parse(body([*no_pm, event(3, **flood)])).missing == {TABLE: {"pm25"}}

    one_lost = [event(1, object={"battery": 80}), event(2), event(3, **flood)]
    assert city_sensors.parse(body(one_lost)).missing == {}  # a lost reading, for the suite

    # water-level events never carry pm25, nor PM2.5 events a water level: not drift
    mixed = [event(1), event(2), event(3, **flood), event(4, **flood)]
    assert city_sensors.parse(body(mixed)).missing == {}


def test_drift_is_not_judged_on_a_single_event() -> None:
    lone = event(1)
    del lone["fCnt"]
    parsed = city_sensors.parse(body([lone]))

    assert parsed.missing == {}
    assert parsed.rows[TABLE][0]["f_cnt"] is None


def test_freshness_is_the_event_time() -> None:
    assert city_sensors.FRESHNESS == (TABLE, "time")
    assert city_sensors.UPLINKS.columns["time"] == "TIMESTAMPTZ"


# --- extract: paging and the watermark, with a mock relay ---


def mock_relay(pages: dict[str, bytes], seen: list[httpx.URL]) -> httpx.MockTransport:
    """Answers by the request's ``after`` parameter (``-`` when absent)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=pages[request.url.params.get("after", "-")])

    return httpx.MockTransport(handler)


def run_extract(
    transport: httpx.BaseTransport, watermark: str | None, page_size: int = 2
) -> list[Page]:
    source = Source(dataset=city_sensors.DATASET, url="http://relay.test", page_size=page_size)
    with make_client(source, transport) as client:
        return list(city_sensors.extract(client, source, watermark))


def test_extract_follows_next_links_and_moves_the_watermark() -> None:
    seen: list[httpx.URL] = []
    next_url = "http://relay.test/api/v4/uplinks?after=2026-11-20T02%3A00%3A00Z&limit=2"
    pages = {
        "2026-11-19T00:00:00Z": body([event(1), event(2)], next_url),
        "2026-11-20T02:00:00Z": body([event(3)]),
    }
    result = run_extract(mock_relay(pages, seen), "2026-11-19T00:00:00Z")

    assert [page.watermark_after for page in result] == [
        "2026-11-20T02:00:00.123456789Z",
        "2026-11-20T03:00:00.123456789Z",
    ]
    assert seen[0].path == "/api/v4/uplinks"
    assert dict(seen[0].params) == {"limit": "2", "after": "2026-11-19T00:00:00Z"}
    assert str(seen[1]) == next_url
    assert [len(city_sensors.parse(p.content).rows[TABLE]) for p in result] == [2, 1]


def test_extract_starts_at_the_oldest_event_without_a_watermark() -> None:
    seen: list[httpx.URL] = []
    result = run_extract(mock_relay({"-": body([])}, seen), None)

    assert "after" not in seen[0].params
    assert [page.watermark_after for page in result] == [None]


def test_an_empty_page_keeps_the_watermark() -> None:
    watermark = "2026-11-20T03:00:00.123456789Z"
    result = run_extract(mock_relay({watermark: body([])}, []), watermark)

    assert [page.watermark_after for page in result] == [watermark]


def test_a_future_timestamp_does_not_move_the_watermark() -> None:
    """A gateway clock years ahead must not make later extracts skip the real events."""
    latest = max(datetime.now(UTC), clock.now())  # past the wall clock and the pipeline's now
    future = (latest + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pages = {"-": body([event(1), event(2, time=future), event(3)])}
    [page] = run_extract(mock_relay(pages, []), None, page_size=10)

    assert page.watermark_after == "2026-11-20T03:00:00.123456789Z"
    assert len(city_sensors.parse(page.content).rows[TABLE]) == 3  # loaded all the same


def test_the_watermark_is_normalised_to_utc() -> None:
    pages = {"-": body([event(1, time="2026-11-20T09:30:00.5+07:00")])}
    [page] = run_extract(mock_relay(pages, []), None)

    assert page.watermark_after == "2026-11-20T02:30:00.500000000Z"


def test_an_unreadable_page_is_yielded_once_and_paging_stops() -> None:
    seen: list[httpx.URL] = []
    result = run_extract(mock_relay({"w": b'{"events": [{"dedu'}, seen), "w")

    assert len(seen) == 1
    assert [page.watermark_after for page in result] == ["w"]
    with pytest.raises(ParseError):
        city_sensors.parse(result[0].content)


def test_a_relay_that_repeats_its_next_link_is_an_error() -> None:
    loop = "http://relay.test/api/v4/uplinks?after=2026-11-20T01%3A00%3A00Z&limit=2"
    pages = {"-": body([event(1)], loop), "2026-11-20T01:00:00Z": body([event(2)], loop)}
    with pytest.raises(SourceError, match="same next link"):
        run_extract(mock_relay(pages, []), None)


# --- against the emulator ---


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    relay = sensors.build(Clock(TODAY, history_days=30)).start()
    yield relay
    relay.stop()


@pytest.fixture
def relay(emulator: Emulator) -> Iterator[Emulator]:
    emulator.faults.reset()
    yield emulator
    emulator.faults.reset()


def pull(relay: Emulator, watermark: str | None = None, page_size: int = 1000) -> list[Page]:
    source = Source(
        dataset=city_sensors.DATASET, url=relay.url, backoff_seconds=0.01, page_size=page_size
    )
    with make_client(source) as client:
        return list(city_sensors.extract(client, source, watermark))


def parse_all(pages: list[Page]) -> Parsed:
    total = Parsed(rows={TABLE: []})
    for page in pages:
        parsed = city_sensors.parse(page.content)
        total.rows[TABLE].extend(parsed.rows[TABLE])
        total.rejects.extend(parsed.rejects)
    return total


@pytest.mark.emulator
def test_the_emulated_month_is_clean_and_complete(relay: Emulator) -> None:
    pages = pull(relay)
    parsed = parse_all(pages)
    rows = parsed.rows[TABLE]

    assert parsed.rejects == []
    assert len(pages) == 5
    # 30 days × 14 devices × 12 uplinks, less about 1.5 % lost on air
    assert 0.97 * 5040 < len(rows) < 5040
    assert len({row["deduplication_id"] for row in rows}) == len(rows)
    times = [row["time"] for row in rows]
    assert times == sorted(times)
    first_day = datetime.combine(TODAY - timedelta(days=30), datetime.min.time(), BANGKOK)
    assert first_day <= times[0] and times[-1] < datetime.combine(
        TODAY, datetime.min.time(), BANGKOK
    )
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert {row["municipality_id"] for row in rows} == MUNICIPALITY_IDS
    assert len({row["dev_eui"] for row in rows}) == 14
    pm = [row for row in rows if row["f_port"] == 2]
    flood = [row for row in rows if row["f_port"] == 3]
    assert len({row["dev_eui"] for row in pm}) == 10 and len({r["dev_eui"] for r in flood}) == 4
    assert all(0 < row["pm25"] < 500 and row["water_level_cm"] is None for row in pm)
    assert all(0 <= row["water_level_cm"] < 500 and row["pm25"] is None for row in flood)
    assert all(0 < row["battery"] <= 100 for row in rows)
    assert all(15.6 < row["device_latitude"] < 17.2 for row in rows)
    assert all(101.6 < row["device_longitude"] < 103.3 for row in rows)
    assert any(row["gateway_count"] >= 2 for row in rows)
    assert all(-125 <= row["best_rssi"] < -30 for row in rows)
    assert any("บึง" in row["site_name"] for row in rows)
    # the payload bytes agree with the decoded reading
    sample = pm[0]
    raw = base64.b64decode(sample["data_base64"])
    assert round(int.from_bytes(raw[:2], "big") / 10, 1) == sample["pm25"]
    assert raw[2] == sample["battery"]
    # frame counters climb per device, and some devices rejoined (counter back near 0)
    counters = defaultdict(list)
    for row in rows:
        counters[row["dev_eui"]].append(row["f_cnt"])
    steps = [b - a for seq in counters.values() for a, b in itertools.pairwise(seq)]
    assert sum(step < 0 for step in steps) >= 1
    assert Counter(step for step in steps if step > 0).most_common(1)[0][0] == 1


@pytest.mark.emulator
def test_a_second_extract_from_the_watermark_brings_nothing_new(relay: Emulator) -> None:
    pages = pull(relay)
    rows = parse_all(pages).rows[TABLE]
    watermark = pages[-1].watermark_after
    assert watermark is not None
    assert datetime.fromisoformat(watermark.replace("Z", "+00:00")) == max(
        row["time"] for row in rows
    )

    again = pull(relay, watermark)
    assert len(again) == 1
    assert parse_all(again).rows[TABLE] == []
    assert again[0].watermark_after == watermark


@pytest.mark.emulator
def test_an_extract_from_a_midpoint_brings_only_later_events(relay: Emulator) -> None:
    rows = parse_all(pull(relay)).rows[TABLE]
    middle = rows[len(rows) // 2]
    watermark = middle["time"].strftime("%Y-%m-%dT%H:%M:%S.%f999Z")  # just after it

    later = parse_all(pull(relay, watermark, page_size=700)).rows[TABLE]
    assert [row["deduplication_id"] for row in later] == [
        row["deduplication_id"] for row in rows[len(rows) // 2 + 1 :]
    ]


@pytest.mark.emulator
def test_malformed_rows_become_rejects_naming_the_column(relay: Emulator) -> None:
    relay.faults.data["malformed_rows"] = 2
    pages = pull(relay, page_size=1000)
    parsed = parse_all(pages)

    assert len(parsed.rejects) == 2 * len(pages)
    for reject in parsed.rejects:
        assert any(
            name in reject.reason for name in ("'pm25'", "'water_level_cm'", "'deduplication_id'")
        )
        assert reject.row_number >= 1
    assert len(parsed.rows[TABLE]) + len(parsed.rejects) > 0.97 * 5040
    assert all(isinstance(row["time"], datetime) for row in parsed.rows[TABLE])


@pytest.mark.emulator
def test_duplicate_sentinel_out_of_range_and_unknown_code_faults(relay: Emulator) -> None:
    relay.faults.data.update(duplicate_rows=3, sentinel_readings=4, out_of_range=2, unknown_codes=1)
    [page] = pull(relay, page_size=5000)
    rows = city_sensors.parse(page.content).rows[TABLE]

    keys = Counter(row["deduplication_id"] for row in rows)
    assert sorted(keys.values())[-3:] == [2, 2, 2] and sorted(keys.values())[-4] == 1
    readings = [row["pm25"] if row["f_port"] == 2 else row["water_level_cm"] for row in rows]
    assert readings.count(-1.0) == 2 and readings.count(None) == 2
    assert 5000.0 in readings or 2500.0 in readings
    assert sum(not 15.6 < row["device_latitude"] < 17.2 for row in rows) == 1
    assert Counter(row["municipality_id"] in MUNICIPALITY_IDS for row in rows)[False] == 1


@pytest.mark.emulator
def test_clock_skew_loads_future_rows_but_keeps_the_watermark(relay: Emulator) -> None:
    clean = pull(relay, page_size=5000)[0].watermark_after
    relay.faults.data["clock_skew"] = 2
    [page] = pull(relay, page_size=5000)
    rows = city_sensors.parse(page.content).rows[TABLE]

    skewed = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(days=3000)
    future = [row for row in rows if row["time"] > skewed]
    assert len(future) == 2
    # the network server's clock is right: that is what the suite compares the time with
    assert all(row["ns_time"] < datetime.now(UTC) for row in future)
    assert page.watermark_after == clean


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("field", "columns"),
    [("devEui", {"dev_eui"}), ("devAddr", {"dev_addr"}), ("pm25", {"pm25"})],
)
def test_missing_column_is_schema_drift(relay: Emulator, field: str, columns: set[str]) -> None:
    relay.faults.data["missing_column"] = field
    [page] = pull(relay, page_size=5000)
    parsed = city_sensors.parse(page.content)

    assert parsed.missing == {TABLE: columns}
    assert parsed.rejects == []
    rows = parsed.rows[TABLE]
    assert len(rows) > 0.97 * 5040
    assert all(row[column] is None for row in rows for column in columns)


@pytest.mark.emulator
def test_a_stale_feed_stops_three_days_ago(relay: Emulator) -> None:
    relay.faults.data["stale_feed"] = True
    rows = parse_all(pull(relay)).rows[TABLE]

    cutoff = datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), BANGKOK)
    assert rows and max(row["time"] for row in rows) < cutoff


@pytest.mark.emulator
def test_http_faults_are_retried(relay: Emulator) -> None:
    relay.faults.inject("status", count=2, status=503)
    relay.faults.inject("rate_limit", retry_after=0)
    relay.faults.inject("truncate")
    before = len(relay.requests)
    rows = parse_all(pull(relay, page_size=5000)).rows[TABLE]

    assert len(relay.requests) - before == 5  # 503, 503, 429, cut short, then the page
    assert len(rows) > 0.97 * 5040


# --- the emulator's data, without HTTP ---


def daily_pm25(clock: Clock, days: set[date]) -> dict[date, float]:
    network = sensors._Network(clock)
    readings: dict[date, list[float]] = defaultdict(list)
    for slot in network.index():
        if slot.day in days and sensors.DEVICES[slot.device].kind is sensors.PM25:
            readings[slot.day].append(network.render(slot)["object"]["pm25"])
    return {day: statistics.mean(values) for day, values in readings.items()}


def test_pm25_is_hazy_in_the_dry_season_and_clean_in_the_monsoon() -> None:
    clock = Clock(TODAY, history_days=365)
    february = [date(2026, 2, d) for d in range(1, 29)]
    july = [date(2026, 7, d) for d in range(1, 32)]
    means = daily_pm25(clock, {*february, *july})

    assert sum(means[d] > 37.5 for d in february) >= 14
    assert sum(means[d] > 37.5 for d in july) == 0


def test_a_days_events_do_not_change_when_today_moves_on() -> None:
    day = date(2026, 11, 1)
    earlier = sensors._Network(Clock(TODAY, history_days=30))
    later = sensors._Network(Clock(TODAY + timedelta(days=40), history_days=90))

    def events_of(network: sensors._Network) -> list[dict[str, Any]]:
        return [network.render(slot) for slot in network.index() if slot.day == day]

    assert events_of(earlier) == events_of(later)
    assert len(events_of(earlier)) > 150
