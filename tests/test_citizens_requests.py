"""The you-pee complaint channel: GeoReport v2 parse, windowed paging, emulator and data faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from connectors import citizens_requests as conn
from connectors.base import ROW, Parsed, ParseError, Source, SourceError
from connectors.http import make_client
from emulators import citizens
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, Clock

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, tzinfo=BANGKOK)  # the emulator's now: the start of clock.today
TABLE = "citizens_service_requests"


def _request(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "service_request_id": "YP-20261120-001",
        "status": "closed",
        "status_notes": "ดำเนินการแก้ไขเรียบร้อยแล้ว",
        "service_name": "ถนนชำรุด",
        "service_code": "104",
        "description": "ถนนเป็นหลุมใหญ่ แจ้งโดย นายสมชาย ใจดี โทร 081-234-5678",
        "agency_responsible": "เทศบาลนครขอนแก่น",
        "service_notice": "ระยะเวลาดำเนินการประมาณ 10 วัน",
        "requested_datetime": "2026-11-20T08:15:00+07:00",
        "updated_datetime": "2026-11-22T16:00:00+07:00",
        "expected_datetime": "2026-11-30T08:15:00+07:00",
        "address": "12/3 ถนนมิตรภาพ ต.ในเมือง อ.เมืองขอนแก่น จ.ขอนแก่น 40000",
        "address_id": None,
        "zipcode": "40000",
        "lat": 16.43,
        "long": 102.83,
        "media_url": None,
    }
    row.update(overrides)
    return row


def _body(rows: list[object]) -> bytes:
    return json.dumps(rows, ensure_ascii=False).encode("utf-8")


# --- parse ---------------------------------------------------------------------------------------


def test_parse_types_rows_and_converts_local_times_to_utc() -> None:
    parsed = conn.parse(_body([_request(), _request(service_request_id="YP-20261120-002")]))
    assert parsed.rejects == []
    rows = parsed.rows[TABLE]
    assert [r["service_request_id"] for r in rows] == ["YP-20261120-001", "YP-20261120-002"]
    row = rows[0]
    assert row["requested_datetime"] == datetime(2026, 11, 20, 1, 15, tzinfo=UTC)
    assert row["updated_datetime"] == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert row["lat"] == 16.43 and row["long"] == 102.83
    assert row["zipcode"] == "40000" and row["service_code"] == "104"
    assert row["description"].endswith("081-234-5678")  # kept as written; masking comes later
    assert set(row) == {*conn.REQUESTS.columns, ROW}
    assert [r[ROW] for r in rows] == [1, 2]  # 1-based position in the response
    assert parsed.missing == {}
    assert conn.FRESHNESS == (TABLE, "requested_datetime")


def test_parse_rejects_bad_rows_by_number_and_column_and_keeps_the_rest() -> None:
    rows: list[object] = [
        _request(lat="n/a"),
        _request(service_request_id="B"),
        {k: v for k, v in _request(service_request_id="C").items() if k != "updated_datetime"},
        "not a request",
        _request(service_request_id="E", requested_datetime="25/11/2569 08:15"),
    ]
    parsed = conn.parse(_body(rows))
    assert [(r["service_request_id"], r[ROW]) for r in parsed.rows[TABLE]] == [("B", 2)]
    reasons = {reject.row_number: reject.reason for reject in parsed.rejects}
    assert set(reasons) == {1, 3, 4, 5}
    assert "'lat'" in reasons[1]
    assert "'updated_datetime'" in reasons[3] and "key" in reasons[3]
    assert "not a JSON object" in reasons[4]
    assert "'requested_datetime'" in reasons[5]
    assert json.loads(parsed.rejects[0].payload)["lat"] == "n/a"
    assert parsed.received == len(rows)


def test_parse_rejects_a_row_with_bytes_that_are_not_utf8() -> None:
    good = _body([_request()])[1:-1]
    bad = _body([_request(service_request_id="X", description="@@")])[1:-1].replace(
        b"@@",
        b"\xe0\xb8",  # half a Thai character
    )
    parsed = conn.parse(b"[" + good + b"," + bad + b"]")
    assert len(parsed.rows[TABLE]) == 1
    assert [(r.row_number, r.reason) for r in parsed.rejects] == [
        (2, "column 'description': bad encoding (not UTF-8)")
    ]
    parsed.rejects[0].payload.encode("utf-8")  # storable as text


def test_parse_raises_for_responses_that_cannot_be_read() -> None:
    body = _body([_request(), _request()])
    with pytest.raises(ParseError, match=r"not valid JSON.*char"):
        conn.parse(body[: len(body) // 2])
    with pytest.raises(ParseError, match="not an array"):
        conn.parse(b'{"code": 400, "description": "bad"}')


def test_parse_names_fields_missing_from_every_request_and_types_them_null() -> None:
    drifted = [{k: v for k, v in _request().items() if k != "lat"}] * 2
    parsed = conn.parse(_body([*drifted, "not a request"]))  # a non-object row has no say
    assert parsed.missing == {TABLE: {"lat"}}
    assert [(r[ROW], r["lat"]) for r in parsed.rows[TABLE]] == [(1, None), (2, None)]
    assert [r.row_number for r in parsed.rejects] == [3]
    # a key field gone from every request: typed null, left for the suite to set the page aside
    no_key = [{k: v for k, v in _request().items() if k != "service_request_id"}] * 2
    parsed = conn.parse(_body(no_key))
    assert parsed.missing == {TABLE: {"service_request_id"}}
    assert parsed.rejects == [] and len(parsed.rows[TABLE]) == 2
    assert all(r["service_request_id"] is None for r in parsed.rows[TABLE])
    # absent from one request only: not drift, and the key is still required of that row
    parsed = conn.parse(_body([_request(), no_key[0]]))
    assert parsed.missing == {}
    assert [(r.row_number, "key is missing" in r.reason) for r in parsed.rejects] == [(2, True)]


def test_parse_empty_window_and_optional_fields_absent() -> None:
    empty = conn.parse(b"[]")
    assert empty.rows == {TABLE: []} and empty.missing == {}  # nothing to judge drift on
    row = {k: v for k, v in _request().items() if k not in {"media_url", "service_notice"}}
    parsed = conn.parse(b"\xef\xbb\xbf" + _body([row]))  # with a BOM
    assert parsed.rows[TABLE][0]["media_url"] is None
    assert parsed.rejects == []
    # named as absent; the suite does not require the optional GeoReport fields
    assert parsed.missing == {TABLE: {"media_url", "service_notice"}}


# --- extract with a mock transport -------------------------------------------------------------


class FakeServer:
    """A GeoReport server over a list of requested times, answering pages like the real one."""

    def __init__(self, requested: list[datetime]) -> None:
        self.requested = requested
        self.calls: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        self.calls.append(query)
        start = datetime.fromisoformat(query["start_date"])
        end = datetime.fromisoformat(query["end_date"])
        assert start.utcoffset() == timedelta(hours=7)  # W3C datetimes in local time
        if end - start > timedelta(days=90):
            return httpx.Response(400, json=[{"code": 400, "description": "over 90 days"}])
        inside = [t for t in self.requested if start <= t <= end]
        page, size = int(query["page"]), int(query["page_size"])
        rows = [
            _request(
                service_request_id=f"R{t:%Y%m%d%H}",
                requested_datetime=t.isoformat(),
                updated_datetime=t.isoformat(),
            )
            for t in inside[(page - 1) * size : page * size]
        ]
        return httpx.Response(200, json=rows)


def _run(server: FakeServer, watermark: str | None, page_size: int = 2, **options: object) -> list:
    source = Source(
        dataset=conn.DATASET,
        url="http://you-pee.test",
        page_size=page_size,
        backoff_seconds=0.01,
        options={"now": "2026-11-26T00:00:00+07:00", **options},
    )
    with make_client(source, httpx.MockTransport(server)) as client:
        return list(conn.extract(client, source, watermark))


def test_extract_walks_windows_and_pages_with_watermarks() -> None:
    # three requests in the first 10-day window (two pages of 2), none in the second, one in the 3rd
    times = [NOW - timedelta(days=d, hours=3) for d in (29, 28, 25, 5)]
    server = FakeServer(sorted(times))
    pages = _run(server, None, history_days=30, window_days=10)
    windows = [(c["start_date"], c["end_date"], c["page"]) for c in server.calls]
    assert windows == [
        ("2026-10-27T00:00:00+07:00", "2026-11-06T00:00:00+07:00", "1"),
        ("2026-10-27T00:00:00+07:00", "2026-11-06T00:00:00+07:00", "2"),
        ("2026-11-06T00:00:00+07:00", "2026-11-16T00:00:00+07:00", "1"),
        ("2026-11-16T00:00:00+07:00", "2026-11-26T00:00:00+07:00", "1"),
    ]
    assert [p.watermark_after for p in pages] == [
        None,  # inside the first window of a first run: nothing holds yet
        "2026-11-05T17:00:00+00:00",
        "2026-11-15T17:00:00+00:00",
        "2026-11-25T17:00:00+00:00",
    ]
    loaded = [r["service_request_id"] for p in pages for r in conn.parse(p.content).rows[TABLE]]
    assert len(loaded) == 4


def test_extract_starts_lookback_days_before_the_watermark_and_never_moves_it_back() -> None:
    server = FakeServer([NOW - timedelta(days=1)])
    pages = _run(server, "2026-11-25T17:00:00+00:00", window_days=5, lookback_days=14)
    assert server.calls[0]["start_date"] == "2026-11-12T00:00:00+07:00"
    assert [c["end_date"] for c in server.calls] == [
        "2026-11-17T00:00:00+07:00",
        "2026-11-22T00:00:00+07:00",
        "2026-11-26T00:00:00+07:00",
    ]
    # windows ending before the stored watermark must not pull it back
    assert {p.watermark_after for p in pages} == {"2026-11-25T17:00:00+00:00"}


def test_extract_caps_windows_at_90_days() -> None:
    server = FakeServer([])
    pages = _run(server, None, history_days=200, window_days=365)
    assert len(pages) == 3  # 90 + 90 + 20 days
    assert pages[-1].watermark_after == "2026-11-25T17:00:00+00:00"


def test_extract_retries_server_errors_and_fails_on_a_georeport_error() -> None:
    failures = iter([500, 503])

    def flaky(request: httpx.Request) -> httpx.Response:
        status = next(failures, None)
        if status:
            return httpx.Response(status, json={"error": "busy"})
        return httpx.Response(200, json=[])

    assert len(_run(flaky, None, history_days=10)) == 1  # type: ignore[arg-type]

    def refuses(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=[{"code": 400, "description": "start_date: bad"}])

    with pytest.raises(SourceError, match="400"):
        _run(refuses, None)  # type: ignore[arg-type]


def test_extract_hands_over_a_non_array_page_then_stops() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'[{"service_request_id": "A"')

    source = Source(dataset=conn.DATASET, url="http://you-pee.test", backoff_seconds=0.01)
    with make_client(source, httpx.MockTransport(broken)) as client:
        pages = conn.extract(client, source, None)
        page = next(pages)
        assert page.watermark_after is None  # a broken page must not move the watermark
        with pytest.raises(SourceError, match="JSON array"):
            next(pages)
    with pytest.raises(ParseError):
        conn.parse(page.content)


# --- against the emulator ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = citizens.build(Clock(TODAY, history_days=30)).start()
    yield server
    server.stop()


def _source(emulator: Emulator, page_size: int = 50, **options: object) -> Source:
    return Source(
        dataset=conn.DATASET,
        url=emulator.url,
        page_size=page_size,
        backoff_seconds=0.01,
        options={"now": NOW.isoformat(), "history_days": 30, "window_days": 10, **options},
    )


def _extract(
    emulator: Emulator, watermark: str | None = None, page_size: int = 50, **options: object
):
    source = _source(emulator, page_size, **options)
    with make_client(source) as client:
        pages = list(conn.extract(client, source, watermark))
    merged = Parsed(rows={TABLE: []})
    for page in pages:
        parsed = conn.parse(page.content)
        merged.rows[TABLE] += parsed.rows[TABLE]
        merged.rejects += parsed.rejects
    return pages, merged


@pytest.mark.emulator
def test_emulator_year_extract_parses_clean(emulator: Emulator) -> None:
    pages, parsed = _extract(emulator)
    rows = parsed.rows[TABLE]
    assert parsed.rejects == []
    assert 30 * 12 <= len(rows) <= 30 * 30  # about 20 a day
    assert len(pages) > 3  # three windows, several pages each
    assert pages[-1].watermark_after == "2026-11-25T17:00:00+00:00"
    keys = [(r["service_request_id"], r["updated_datetime"]) for r in rows]
    assert len(set(keys)) == len(keys)
    start = datetime(2026, 10, 27, tzinfo=BANGKOK)
    for row in rows:
        assert row["requested_datetime"].tzinfo is UTC
        assert start <= row["requested_datetime"] <= row["updated_datetime"] <= NOW
        assert row["requested_datetime"] < row["expected_datetime"]
        assert row["status"] in {"open", "closed"}
        assert 15.6 <= row["lat"] <= 17.2 and 101.6 <= row["long"] <= 103.3
        assert row["service_code"] in {s.code for s in citizens.SERVICES}
    assert {r["status"] for r in rows} == {"open", "closed"}
    assert any("เปิดเรื่องอีกครั้ง" in (r["status_notes"] or "") for r in rows)  # reopened
    assert len({r["agency_responsible"] for r in rows}) == 6
    assert any("เลขบัตรประชาชน" in r["description"] for r in rows)  # PII as people write it


@pytest.mark.emulator
def test_emulator_second_extract_brings_nothing_new(emulator: Emulator) -> None:
    first_pages, first = _extract(emulator)
    pages, again = _extract(emulator, first_pages[-1].watermark_after)
    keys = {(r["service_request_id"], r["updated_datetime"]) for r in first.rows[TABLE]}
    assert again.rows[TABLE]  # the lookback re-reads the last 14 days ...
    assert {(r["service_request_id"], r["updated_datetime"]) for r in again.rows[TABLE]} <= keys
    assert pages[-1].watermark_after == first_pages[-1].watermark_after  # ... and stays put


@pytest.mark.emulator
def test_emulator_services_and_georeport_errors(emulator: Emulator) -> None:
    services = httpx.get(f"{emulator.url}/open311/v2/services.json").json()
    assert len(services) == 8
    assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)
    assert {"service_code", "service_name", "description", "keywords", "group"} <= set(services[0])
    response = httpx.get(
        f"{emulator.url}/open311/v2/requests.json",
        params={"start_date": "2026-01-01T00:00:00+07:00", "end_date": "2026-11-01T00:00:00+07:00"},
    )
    assert response.status_code == 400
    assert response.json()[0]["code"] == 400 and "90 days" in response.json()[0]["description"]
    empty = httpx.get(
        f"{emulator.url}/open311/v2/requests.json",
        params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-02-01T00:00:00Z"},
    )
    assert empty.json() == []


@pytest.mark.emulator
def test_emulator_days_do_not_change_when_today_moves_on(emulator: Emulator) -> None:
    later = citizens.build(Clock(TODAY + timedelta(days=3), history_days=30)).start()
    try:
        params = {
            "start_date": "2026-11-01T00:00:00+07:00",
            "end_date": "2026-11-03T00:00:00+07:00",
        }
        url = "/open311/v2/requests.json"
        before = httpx.get(emulator.url + url, params=params).json()
        after = httpx.get(later.url + url, params=params).json()
    finally:
        later.stop()
    fixed = ("service_request_id", "requested_datetime", "description", "lat", "long")
    assert [[r[f] for f in fixed] for r in before] == [[r[f] for f in fixed] for r in after]


@pytest.mark.emulator
def test_malformed_rows_become_rejects_naming_the_column(emulator: Emulator) -> None:
    emulator.faults.data["malformed_rows"] = 4
    pages, parsed = _extract(emulator, page_size=25, history_days=3)
    sizes = [len(json.loads(page.content)) for page in pages]
    assert len(sizes) >= 2 and sizes[0] == 25  # one window of 3 days, paged
    reasons = [reject.reason for reject in parsed.rejects]
    assert len(reasons) == sum(min(4, size) for size in sizes)
    for column in ("'lat'", "'requested_datetime'", "'service_request_id'", "'long'"):
        assert any(column in reason for reason in reasons)
    assert all(isinstance(r["lat"], float) for r in parsed.rows[TABLE])
    assert len(parsed.rows[TABLE]) == parsed.received - len(reasons)


@pytest.mark.emulator
def test_data_faults_duplicates_codes_ranges_and_drift(emulator: Emulator) -> None:
    emulator.faults.data.update(duplicate_rows=2, unknown_codes=2, out_of_range=2)
    _, parsed = _extract(emulator, history_days=3)
    rows = parsed.rows[TABLE]
    keys = [(r["service_request_id"], r["updated_datetime"]) for r in rows]
    assert len(keys) - len(set(keys)) == 2
    assert any(r["status"] == "in_progress" for r in rows)
    assert any(r["service_code"] == "999" for r in rows)
    assert any(not 15.6 <= r["lat"] <= 17.2 for r in rows)
    assert any(r["updated_datetime"] < r["requested_datetime"] for r in rows)

    emulator.faults.reset()
    emulator.faults.data["missing_column"] = "media_url"
    _, parsed = _extract(emulator, history_days=3)
    assert parsed.rows[TABLE] and all(r["media_url"] is None for r in parsed.rows[TABLE])
    emulator.faults.data["missing_column"] = "lat"
    source = _source(emulator, history_days=3)
    with make_client(source) as client:
        pages = list(conn.extract(client, source, None))
    drifted = [conn.parse(page.content) for page in pages]
    assert sum(len(parsed.rows[TABLE]) for parsed in drifted) > 0
    for parsed in drifted:  # drift is no parse error: the suite sets such a page aside whole
        assert parsed.missing == ({TABLE: {"lat"}} if parsed.rows[TABLE] else {})
        assert not parsed.rejects and all(r["lat"] is None for r in parsed.rows[TABLE])


@pytest.mark.emulator
def test_stale_feed_stops_three_days_before_now(emulator: Emulator) -> None:
    emulator.faults.data["stale_feed"] = True
    _, parsed = _extract(emulator, history_days=10)
    rows = parsed.rows[TABLE]
    assert rows
    cutoff = NOW - timedelta(days=3)
    assert max(r["requested_datetime"] for r in rows) <= cutoff
    assert max(r["updated_datetime"] for r in rows) <= cutoff


@pytest.mark.emulator
def test_extract_rides_out_http_faults(emulator: Emulator) -> None:
    emulator.faults.inject("status", count=2, status=500)
    emulator.faults.inject("rate_limit", retry_after=0)
    emulator.faults.inject("truncate")
    _, faulty = _extract(emulator, history_days=3)
    emulator.faults.reset()
    _, clean = _extract(emulator, history_days=3)
    assert faulty.rows == clean.rows and not faulty.rejects
