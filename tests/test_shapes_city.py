"""The shapes the city's sources may take, and what is refused before landing.

ChirpStack v4 events (``city.sensors``) come as one event object (as the HTTP integration posts
it with ``?event=up``), a JSON list, NDJSON or the relay's ``{"events": [...]}`` page, with or
without ``fCnt``, possibly mixed with the other integration events (join, status, ack, txack,
log, location, integration), which are not uplinks. The four CKAN datasets take CKAN Action API
answers. Samples are small and hand-written (``tests/samples/city``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from connectors import (
    city_hotel_occupancy,
    city_mice_events,
    city_population,
    city_sensors,
    city_solar,
    clock,
)
from connectors.base import ROW, Page, Parsed, ParseError, Source, SourceError, WrongKindError
from connectors.http import make_client
from emulators import sensors
from emulators.server import Emulator
from emulators.synthetic import Clock
from warehouse.ingest import received_file

SAMPLES = Path(__file__).parent / "samples" / "city"
TABLE = "city_sensor_uplinks"
CKAN_CONNECTORS = (city_population, city_mice_events, city_hotel_occupancy, city_solar)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def rows(parsed: Parsed) -> list[dict[str, Any]]:
    return parsed.rows[TABLE]


def one_line(message: str) -> str:
    assert "\n" not in message and "\r" not in message, message
    return message


# --------------------------------------------------------------------------------------------
# city.sensors: parse, one hand-written sample per shape


def test_one_event_object_as_the_http_integration_posts_it() -> None:
    """A lone event, pretty-printed over many lines, is one document, not NDJSON."""
    parsed = city_sensors.parse(sample("sensors/one_uplink.json"))

    assert parsed.rejects == [] and parsed.missing == {}
    [row] = rows(parsed)
    assert row[ROW] == 1
    assert row["deduplication_id"] == "9d0f6c7e-41a2-4c35-8e1b-2f5a7d3c9b01"
    assert row["time"] == datetime(2026, 11, 10, 3, 15, 42, 512340, tzinfo=UTC)
    assert (row["dev_eui"], row["municipality_id"], row["site_name"]) == (
        "a84041000181c0de",
        "tha_phra",
        "ลำห้วยท่าพระ",
    )
    assert (row["f_cnt"], row["f_port"], row["water_level_cm"], row["pm25"]) == (
        1207,
        3,
        31.5,
        None,
    )
    assert (row["gateway_count"], row["best_rssi"], row["spreading_factor"]) == (1, -104, 8)


def test_a_json_list_of_events_with_and_without_fcnt() -> None:
    parsed = city_sensors.parse(sample("sensors/uplinks.json"))

    assert parsed.rejects == [] and parsed.missing == {}
    assert [(row[ROW], row["f_cnt"], row["pm25"]) for row in rows(parsed)] == [
        (1, 77, 30.0),
        (2, None, 32.0),
    ]


def test_the_relay_page_shape_still_parses() -> None:
    parsed = city_sensors.parse(sample("sensors/relay_page.json"))

    assert [(row[ROW], row["municipality_id"], row["f_cnt"]) for row in rows(parsed)] == [
        (1, "samran", 9)
    ]


def test_ndjson_numbers_rows_by_line_skips_other_events_and_rejects_bad_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lines: 1 join, 2 uplink (fCnt 0), 3 blank, 4 status, 5 uplink without fCnt, 6 cut short,
    7 log, 8 txack, 9 ack, 10 location, 11 integration, 12 uplink without time, 13 a JSON
    string, 14 uplink."""
    with caplog.at_level(logging.INFO, logger=city_sensors.__name__):
        parsed = city_sensors.parse(sample("sensors/mixed.ndjson"))

    assert [(row[ROW], row["f_cnt"], row["pm25"]) for row in rows(parsed)] == [
        (2, 0, 20.0),
        (5, None, 23.0),
        (14, 4, 27.0),
    ]
    reasons = {reject.row_number: reject.reason for reject in parsed.rejects}
    assert sorted(reasons) == [6, 12, 13]
    assert reasons[6].startswith("line 6: not valid JSON") and "NDJSON" in reasons[6]
    assert "column 'time'" in reasons[12] and "'time' is missing" in reasons[12]
    assert "expected a JSON object" in reasons[13]
    bad_line = next(r for r in parsed.rejects if r.row_number == 6)
    assert bad_line.payload.startswith('{"deduplicationId":"c1f0a7d2-0005')  # the line as sent
    # the seven other events are neither loaded nor quarantined: received counts uplinks only
    assert parsed.received == 6
    [skip] = [r.getMessage() for r in caplog.records if "non-uplink" in r.getMessage()]
    assert "skipped 7 non-uplink event(s)" in skip
    for kind in ("ack 1", "integration 1", "join 1", "location 1", "log 1", "status 1", "txack 1"):
        assert kind in skip


def test_every_shape_of_the_same_events_gives_the_same_rows() -> None:
    alone = json.loads(sample("sensors/one_uplink.json"))
    events = [*json.loads(sample("sensors/uplinks.json")), alone]

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    shapes = {
        "relay": compact({"events": events, "next": None}),
        "list": compact(events),
        "ndjson": "".join(compact(event) + "\n" for event in events),
        "ndjson, CRLF and blank lines": "\r\n\r\n".join(compact(event) for event in events),
    }
    parsed = {name: city_sensors.parse(text.encode()) for name, text in shapes.items()}

    def without_position(parsed: Parsed) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != ROW} for row in rows(parsed)]

    expected = without_position(parsed["relay"])
    assert len(expected) == 3
    for name, result in parsed.items():
        assert result.rejects == [], name
        assert without_position(result) == expected, name
    assert [row[ROW] for row in rows(parsed["ndjson, CRLF and blank lines"])] == [1, 3, 5]
    one_each = [city_sensors.parse(compact(event).encode()) for event in events]
    assert [without_position(result) for result in one_each] == [[row] for row in expected]


@pytest.mark.parametrize(
    ("drop", "column", "field"),
    [
        (("time",), "time", "'time'"),
        (("deduplicationId",), "deduplication_id", "'deduplicationId'"),
        (("deviceInfo", "devEui"), "dev_eui", "'deviceInfo.devEui'"),
        (("deviceInfo",), "dev_eui", "'deviceInfo.devEui'"),
    ],
)
def test_an_uplink_without_what_v4_always_sends_is_a_row_reject_naming_the_field(
    drop: tuple[str, ...], column: str, field: str
) -> None:
    events = json.loads(sample("sensors/uplinks.json"))
    node = events[1]
    for part in drop[:-1]:
        node = node[part]
    del node[drop[-1]]
    parsed = city_sensors.parse(json.dumps(events).encode())

    assert [row[ROW] for row in rows(parsed)] == [1]
    [reject] = parsed.rejects
    assert reject.row_number == 2
    assert one_line(reject.reason).startswith(f"column {column!r}: {field} is missing")
    assert "ChirpStack v4 sends it with every uplink" in reject.reason


# Documents that hold no event at all: (content, what the one-line message must say)
NOT_EVENTS = [
    (
        b'{"help": "x", "success": true, "result": {"records": []}}',
        "a JSON object with no 'events' list and none of the fields every ChirpStack v4 event",
    ),
    (b'{"events": {"a": 1}, "next": null}', "a relay page whose 'events' is not a list"),
    (b"[1, 2, 3]", "a JSON list of 3 item(s) none of which is a ChirpStack v4 event"),
    (b'"up"', "a JSON str, not an event"),
    (b'{"a": 1}\n{"b": 2}\n', "NDJSON with no ChirpStack v4 event on any line"),
    (b"\x0a\x24\x39\xff\xfe\x81", "not UTF-8 (byte 3), so not the JSON marshaler's output"),
    (
        b'{"events": [{"deduplicationId": "9d0f6c7e-41a2-4c3',
        "not valid JSON at line 1 column 33 (char 32 of 50 bytes: Unterminated string",
    ),
    (b'{\n  "events": [\n    {"time": \n', "not valid JSON at line 4"),
]


@pytest.mark.parametrize(("content", "rule"), NOT_EVENTS)
def test_a_document_that_is_not_events_raises_one_line_naming_the_rule_and_fix(
    content: bytes, rule: str
) -> None:
    with pytest.raises(ParseError) as raised:
        city_sensors.parse(content)

    message = one_line(str(raised.value))
    assert message.startswith("city.sensors: ") and rule in message
    assert "send the events the HTTP integration posts (JSON marshaler, ?event=up)" in message


def test_a_relay_next_link_that_is_not_a_url_is_named() -> None:
    with pytest.raises(ParseError) as raised:
        city_sensors.parse(b'{"events": [], "next": 7}')

    assert "'next' is 7, not a URL" in one_line(str(raised.value))


def test_an_empty_answer_is_no_event_not_an_error() -> None:
    """An NDJSON answer with nothing newer, or a 204 in the one-object shape."""
    for content in (b"", b"\n\n"):
        parsed = city_sensors.parse(content)
        assert rows(parsed) == [] and parsed.received == 0


# --------------------------------------------------------------------------------------------
# city.sensors and the CKAN datasets: check_kind, before a received file is landed


@pytest.mark.parametrize(
    "name",
    ["one_uplink.json", "uplinks.json", "mixed.ndjson", "relay_page.json"],
)
def test_sensors_check_kind_accepts_every_shape(name: str) -> None:
    city_sensors.check_kind(sample(f"sensors/{name}"))  # no exception


def test_sensors_check_kind_lets_json_cut_short_through_to_be_landed_and_rejected() -> None:
    content = sample("sensors/relay_page.json")[:200]
    city_sensors.check_kind(content)
    with pytest.raises(ParseError):
        city_sensors.parse(content)


WRONG_FILES = [
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "is a zip archive, not JSON"),
    (b"<!DOCTYPE html><html><body>Login</body></html>", "is an HTML page, not JSON"),
    (b"time,dev_eui,pm25\n2026-11-10,a840,30\n", "is text starting 'time,dev_eui,pm25', not JSON"),
    (b"root:x:0:0:root:/root:/bin/bash\n", "is text starting 'root:x:0:0:root:/root:/bin/bash'"),
    (b"\x08\x96\x01\x12\x07\xff\xfe\x01", "is binary data starting 08 96 01 12 07 ff fe 01"),
    (b"", "is empty, not JSON"),
]


@pytest.mark.parametrize(("content", "what"), WRONG_FILES)
def test_sensors_check_kind_refuses_what_is_not_json_in_one_line(content: bytes, what: str) -> None:
    with pytest.raises(WrongKindError) as raised:
        city_sensors.check_kind(content)

    message = one_line(str(raised.value))
    assert message.startswith(what)
    assert "city.sensors takes ChirpStack v4 integration events from the JSON marshaler" in message


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (sample("ckan/solar_datastore_search.json"), "is a JSON object with no 'events' list"),
        (b'{"_id": 1, "pm25": "30"}\n{"_id": 2, "pm25": "31"}\n', "is NDJSON with no ChirpStack"),
        (b'[{"_id": 1}]', "is a JSON list of 1 item(s) none of which is a ChirpStack v4 event"),
    ],
)
def test_sensors_check_kind_refuses_json_with_no_event(content: bytes, what: str) -> None:
    with pytest.raises(WrongKindError) as raised:
        city_sensors.check_kind(content)

    message = one_line(str(raised.value))
    assert message.startswith(what)
    assert "city.sensors takes ChirpStack v4" in message


@pytest.mark.parametrize("module", CKAN_CONNECTORS, ids=lambda m: m.DATASET)
def test_ckan_check_kind_accepts_action_api_answers(module: ModuleType) -> None:
    answer = sample("ckan/solar_datastore_search.json")
    module.check_kind(answer)
    module.check_kind(b'\xef\xbb\xbf {"success": false, "error": {"__type": "Not Found Error"}}')
    module.check_kind(answer[:300])  # cut short: landed, then rejected by parse
    with pytest.raises(ParseError):
        module.parse(answer[:300])


@pytest.mark.parametrize("module", CKAN_CONNECTORS, ids=lambda m: m.DATASET)
@pytest.mark.parametrize(
    ("content", "what"),
    [
        *[
            (content, what.replace(", not JSON", ", not a JSON object"))
            for content, what in WRONG_FILES
        ],
        (b'[{"_id": 1}]', "is text starting '[{\"_id\": 1}]', not a JSON object"),
        (
            b'{"resourceType": "Bundle", "type": "searchset"}',
            "is a JSON object without CKAN's 'success' member (members: 'resourceType', 'type')",
        ),
    ],
)
def test_ckan_check_kind_refuses_in_one_line(module: ModuleType, content: bytes, what: str) -> None:
    with pytest.raises(WrongKindError) as raised:
        module.check_kind(content)

    message = one_line(str(raised.value))
    assert message.startswith(what)
    assert message.endswith(
        f"{module.DATASET} takes a CKAN Action API answer (datastore_search, saved as received: "
        "a JSON object with 'success' and 'result')"
    )


@pytest.mark.parametrize("module", [city_sensors, *CKAN_CONNECTORS], ids=lambda m: m.DATASET)
def test_ingest_file_refuses_a_wrong_file_naming_dataset_and_path(
    module: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(WrongKindError) as raised:
        received_file(module, path)

    message = one_line(str(raised.value))
    assert message.startswith(f"{module.DATASET}: {path} refused, nothing landed: is text")


# --------------------------------------------------------------------------------------------
# city.sensors extract: the bare shapes, sniffed whatever the Content-Type says


def event(number: int, hour: int = 1) -> dict[str, Any]:
    """A small uplink numbered ``number``, ``hour`` o'clock UTC on 2026-11-10."""
    return {
        "deduplicationId": f"0b0c0d0e-0000-4000-8000-{number:012d}",
        "time": f"2026-11-10T{hour:02d}:00:00.{number:09d}Z",
        "deviceInfo": {"devEui": "a84041000181a001", "tags": {"municipality": "sila"}},
        "fCnt": number,
        "fPort": 2,
        "object": {"pm25": 10.0 + number},
        "rxInfo": [{"gatewayId": "0016c001ff1a0002", "rssi": -90, "snr": 5.0}],
    }


def serve(answers: dict[str, tuple[str, bytes]], seen: list[str]) -> httpx.MockTransport:
    """Answers (Content-Type, body) by the request's ``after`` (``-`` when absent)."""

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after", "-")
        seen.append(after)
        content_type, content = answers[after]
        status = 204 if not content else 200
        return httpx.Response(status, content=content, headers={"Content-Type": content_type})

    return httpx.MockTransport(handler)


def extract(transport: httpx.MockTransport, watermark: str | None, page_size: int) -> list[Page]:
    source = Source(dataset=city_sensors.DATASET, url="http://relay.test", page_size=page_size)
    with make_client(source, transport) as client:
        return list(city_sensors.extract(client, source, watermark))


def ndjson(*events: dict[str, Any]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def test_extract_pages_bare_shapes_by_the_watermark_whatever_the_content_type() -> None:
    """NDJSON labelled JSON, a list labelled text/plain: a full page asks again after= the
    newest time it brought; a short page ends the read."""
    seen: list[str] = []
    first = event(1, 1)["time"], event(2, 2)["time"]
    answers = {
        "-": ("application/json", ndjson(event(1, 1), event(2, 2))),
        first[1]: ("text/plain", json.dumps([event(3, 3)]).encode()),
    }
    pages = extract(serve(answers, seen), None, page_size=2)

    assert seen == ["-", first[1]]
    assert [(page.extension, page.watermark_after) for page in pages] == [
        ("ndjson", "2026-11-10T02:00:00.000000002Z"),
        ("json", "2026-11-10T03:00:00.000000003Z"),
    ]
    fcnts = [row["f_cnt"] for page in pages for row in rows(city_sensors.parse(page.content))]
    assert fcnts == [1, 2, 3]


def test_extract_reads_one_event_per_response_until_an_empty_answer() -> None:
    seen: list[str] = []
    one, two = event(1, 1), event(2, 2)
    answers = {
        "-": ("application/octet-stream", json.dumps(one).encode()),
        one["time"]: ("application/json", json.dumps(two).encode()),
        two["time"]: ("application/json", b""),  # 204 No Content
    }
    pages = extract(serve(answers, seen), None, page_size=1000)

    assert seen == ["-", one["time"], two["time"]]
    assert [page.watermark_after for page in pages] == [one["time"], two["time"], two["time"]]
    assert [len(rows(city_sensors.parse(page.content))) for page in pages] == [1, 1, 0]


def test_extract_stops_when_a_full_bare_answer_brings_nothing_newer() -> None:
    """Event times beyond the horizon never move the watermark: asking again would loop."""
    seen: list[str] = []
    ahead = max(datetime.now(UTC), clock.now()) + timedelta(days=3650)
    future = {**event(1), "time": ahead.strftime("%Y-%m-%dT%H:%M:%SZ")}
    answers = {"2026-11-10T00:00:00Z": ("application/json", json.dumps([future]).encode())}
    pages = extract(serve(answers, seen), "2026-11-10T00:00:00Z", page_size=1)

    assert seen == ["2026-11-10T00:00:00Z"]
    assert [page.watermark_after for page in pages] == ["2026-11-10T00:00:00.000000000Z"]


def test_a_non_uplink_event_moves_the_watermark() -> None:
    """The relay orders every event it stores: the next read starts after a status event too."""
    status = {
        "deduplicationId": "0b0c0d0e-0000-4000-8000-000000000099",
        "time": "2026-11-10T05:00:00.000000000Z",
        "deviceInfo": {"devEui": "a84041000181a001"},
        "margin": 9,
        "batteryLevel": 80.0,
    }
    answers = {"-": ("application/json", json.dumps(status).encode())}
    answers[status["time"]] = ("application/json", b"")
    pages = extract(serve(answers, []), None, page_size=10)

    assert [page.watermark_after for page in pages] == [status["time"]] * 2
    assert rows(city_sensors.parse(pages[0].content)) == []


# --------------------------------------------------------------------------------------------
# city.sensors against the loopback relay emulator, in each of its shapes


DAYS = 1  # 14 devices, 12 uplinks a day each: the one-event shape reads them one request each


@pytest.fixture(scope="module")
def relay_emulator() -> Iterator[Emulator]:
    relay = sensors.build(Clock(date(2026, 11, 26), history_days=DAYS)).start()
    yield relay
    relay.stop()


@pytest.fixture
def relay(relay_emulator: Emulator) -> Iterator[Emulator]:
    relay_emulator.faults.reset()
    yield relay_emulator
    relay_emulator.faults.reset()


def pull(relay: Emulator, **knobs: Any) -> tuple[list[Page], Parsed, int]:
    """Every page of a full read with these data knobs, the rows parsed, the requests made."""
    relay.faults.reset()
    relay.faults.data.update(knobs)
    before = len(relay.requests)
    source = Source(
        dataset=city_sensors.DATASET, url=relay.url, page_size=100, backoff_seconds=0.01
    )
    with make_client(source) as client:
        pages = list(city_sensors.extract(client, source, None))
    total = Parsed(rows={TABLE: []})
    for page in pages:
        parsed = city_sensors.parse(page.content)
        total.rows[TABLE].extend(parsed.rows[TABLE])
        total.rejects.extend(parsed.rejects)
        assert parsed.missing == {}
    return pages, total, len(relay.requests) - before


def keys(parsed: Parsed) -> list[tuple[str, Any, Any]]:
    return [(row["deduplication_id"], row["time"], row["pm25"]) for row in rows(parsed)]


@pytest.mark.emulator
@pytest.mark.parametrize("shape", ["list", "ndjson", "object"])
def test_each_emulator_shape_brings_every_uplink_the_relay_page_does(
    relay: Emulator, shape: str
) -> None:
    baseline_pages, baseline, _ = pull(relay)
    pages, parsed, requests = pull(relay, shape=shape)

    assert DAYS * 14 * 12 * 0.95 < len(rows(baseline)) <= DAYS * 14 * 12
    assert parsed.rejects == [] and keys(parsed) == keys(baseline)
    assert pages[-1].watermark_after == baseline_pages[-1].watermark_after
    if shape == "object":  # one request per event, then the empty answer (204)
        assert requests == len(rows(baseline)) + 1
        assert pages[-1].content == b""
    else:
        assert requests == len(baseline_pages)
    expected = "ndjson" if shape == "ndjson" else "json"
    assert {page.extension for page in pages if page.content} == {expected}


@pytest.mark.emulator
@pytest.mark.parametrize("shape", ["relay", "list", "ndjson", "object"])
def test_emulator_events_without_fcnt_mixed_with_other_events_load_the_uplinks(
    relay: Emulator, shape: str
) -> None:
    """Other integration events are skipped; uplinks without fCnt load with null counters."""
    _, baseline, _ = pull(relay)
    pages, parsed, _ = pull(relay, shape=shape, omit_fcnt=True, other_events=True)

    raw = b"".join(page.content for page in pages)
    # a status event comes with each device's first uplink of a day (unless lost on air)
    assert raw.count(b'"batteryLevelUnavailable"') == len(first_uplinks_of_a_day(baseline)) > 10
    assert b'"fCnt"' not in raw
    assert parsed.rejects == [] and keys(parsed) == keys(baseline)
    assert {row["f_cnt"] for row in rows(parsed)} == {None}
    assert all(row["f_cnt"] is not None for row in rows(baseline))


def first_uplinks_of_a_day(baseline: Parsed) -> set[tuple[str, date]]:
    """(device, Bangkok day) of the uplinks in a day's first 2-hour slot."""
    local = [(row["dev_eui"], row["time"] + timedelta(hours=7)) for row in rows(baseline)]
    return {(device, moment.date()) for device, moment in local if moment.hour < 2}


def test_emulator_sends_a_join_event_before_the_first_uplink_after_a_rejoin() -> None:
    """A rejoin restarts the frame counter under a new devAddr; ChirpStack sends ``join`` first."""
    network = sensors._Network(Clock(date(2026, 11, 26), history_days=60))
    rejoins = [
        slot
        for slot in network.index()
        if network.counter(sensors.DEVICES[slot.device], slot.day)[1] == slot.slot
    ]
    assert rejoins  # 14 devices, a rejoin every ~120 days each
    slot = rejoins[0]
    uplink = network.render(slot)
    [join] = [other for other in network.others(slot) if "margin" not in other]
    assert uplink["fCnt"] == 0 and join["devAddr"] == uplink["devAddr"]
    assert join["time"] < uplink["time"] and not {"fCnt", "fPort", "rxInfo"} & join.keys()

    parsed = city_sensors.parse(json.dumps([join, uplink]).encode())
    assert [(row[ROW], row["f_cnt"]) for row in rows(parsed)] == [(2, 0)]
    assert parsed.rejects == []


@pytest.mark.emulator
def test_an_unknown_emulator_shape_is_a_client_error(relay: Emulator) -> None:
    with pytest.raises(SourceError, match="HTTP 400"):
        pull(relay, shape="xml")
