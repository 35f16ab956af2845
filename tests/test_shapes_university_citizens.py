"""Protocol breadth for the university and citizens sources: every shape the standard allows,
and a one-line refusal naming the rule for what it forbids.

FHIR R4 MeasureReport alone or in a searchset, collection, transaction, batch, document or
message Bundle; the research CSV's kind check; Open311 GeoReport v2 requests as JSON and XML, its
error forms and XML it refuses. Samples are hand-written, in tests/samples/university_citizens/
and inline.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors import citizens_requests as citizens
from connectors import university_measures as measures
from connectors import university_research_csv as research
from connectors.base import ROW, Page, Parsed, ParseError, Source, SourceError, WrongKindError
from connectors.http import make_client
from emulators import citizens as citizens_emulator
from emulators import university as university_emulator
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, Clock
from warehouse.db import Warehouse
from warehouse.ingest import ingest_page, received_file

SAMPLES = Path(__file__).parent / "samples" / "university_citizens"
TODAY = date(2026, 11, 26)
REPORTS = measures.REPORTS.name
REQUESTS = citizens.REQUESTS.name
BASE = "http://fhir.test"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_json(name: str) -> dict[str, Any]:
    return json.loads(sample(name))


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def one_line(message: str, *words: str) -> None:
    """A refusal is one line and names what it must name."""
    assert "\n" not in message and "\r" not in message, message
    for word in words:
        assert word in message, (word, message)


def report(report_id: str = "tele-sila-20261120", **overrides: Any) -> dict[str, Any]:
    resource = copy.deepcopy(sample_json("measure_report_summary.json"))
    resource["id"] = report_id
    resource.update(overrides)
    return resource


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def ids(parsed: Parsed) -> list[tuple[int, str]]:
    return [(row[ROW], row["report_id"]) for row in parsed.rows[REPORTS]]


# --- FHIR: every shape R4 allows --------------------------------------------------------------


@pytest.mark.parametrize("report_type", ["individual", "summary", "subject-list", "data-exchange"])
def test_a_lone_measure_report_of_each_type_is_one_row(report_type: str) -> None:
    resource = report(type=report_type)
    if report_type == "individual":
        resource["subject"] = {"reference": "Patient/p-001"}
    if report_type == "data-exchange":  # mrp-1: no group scores in a data collection
        del resource["group"]
    parsed = measures.parse(encode(resource))
    assert parsed.rejects == []
    (row,) = parsed.rows[REPORTS]
    assert (row[ROW], row["report_id"], row["report_type"]) == (1, resource["id"], report_type)
    assert row["last_updated"] == datetime(2026, 11, 19, 16, 50, 4, 120000, tzinfo=UTC)
    # whether a KPI may use it is the suite's judgement: only summaries of a municipality pass
    assert row["municipality_id"] == (None if report_type == "individual" else "samran")


def test_a_collection_bundle_loads_its_reports_and_skips_other_resources_in_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("INFO", logger=measures.__name__):
        parsed = measures.parse(sample("bundle_collection.json"))
    assert parsed.rejects == [] and parsed.received == 2  # the Organization is no row
    assert ids(parsed) == [(2, "tele-sila-20261119"), (3, "ehr-sila-202610")]
    coverage = parsed.rows[REPORTS][1]
    assert (coverage["numerator"], coverage["denominator"], coverage["measure_score"]) == (
        150,
        200,
        0.75,
    )
    (line,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    one_line(line, "1 Organization", "collection", REPORTS)


def test_a_transaction_bundle_loads_put_and_post_entries_and_skips_a_delete(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("INFO", logger=measures.__name__):
        parsed = measures.parse(sample("bundle_transaction.json"))
    # the POSTed report has no id yet: typed with a null key, so it is rejected for it
    assert ids(parsed) == [(1, "ems-ban-pet-20261119")]
    assert [(r.row_number, "'report_id'" in r.reason) for r in parsed.rejects] == [(2, True)]
    assert parsed.rows[REPORTS][0]["municipality_id"] == "ban_pet"
    assert any("1 DELETE request" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_a_write_bundle_entry_without_request_breaks_bdl_3(kind: str) -> None:
    document = bundle(
        kind,
        {"resource": report("a"), "request": {"method": "PUT", "url": "MeasureReport/a"}},
        {"resource": report("b")},
        {"resource": report("c"), "request": {"method": "FETCH", "url": "MeasureReport/c"}},
        {"request": {"method": "GET", "url": "MeasureReport?measure=ems-calls"}},
    )
    parsed = measures.parse(encode(document))
    assert ids(parsed) == [(1, "a")]
    reasons = {r.row_number: r.reason for r in parsed.rejects}
    assert set(reasons) == {2, 3}
    one_line(reasons[2], "Bundle.entry.request is missing", kind, "bdl-3")
    one_line(reasons[3], "request.method", "'FETCH'")
    assert json.loads(parsed.rejects[0].payload)["resource"]["id"] == "b"  # the entry as received


@pytest.mark.parametrize(
    ("kind", "first"), [("document", "Composition"), ("message", "MessageHeader")]
)
def test_document_and_message_bundles_load_their_reports(kind: str, first: str) -> None:
    head = {"fullUrl": "urn:uuid:1", "resource": {"resourceType": first, "id": "h"}}
    parsed = measures.parse(encode(bundle(kind, head, {"resource": report("a")})))
    assert ids(parsed) == [(2, "a")] and parsed.rejects == []


@pytest.mark.parametrize(
    ("element", "remove"),
    [
        ("status", lambda r: r.pop("status")),
        ("type", lambda r: r.pop("type")),
        ("measure", lambda r: r.pop("measure")),
        ("period", lambda r: r.pop("period")),
        ("status", lambda r: r.update(status="")),
    ],
)
def test_a_report_without_an_element_r4_requires_is_a_reject_naming_it(
    element: str, remove: Callable[[dict[str, Any]], Any]
) -> None:
    bad = report("b")
    remove(bad)
    document = bundle("collection", {"resource": report("a")}, {"resource": bad})
    parsed = measures.parse(encode(document))
    assert ids(parsed) == [(1, "a")]
    (reject,) = parsed.rejects
    assert reject.row_number == 2 and json.loads(reject.payload)["id"] == "b"
    one_line(reject.reason, f"MeasureReport.{element} is missing", "FHIR R4", "1..1")


def test_a_lone_report_without_a_mandatory_element_is_a_reject_too() -> None:
    resource = report()
    del resource["measure"]
    parsed = measures.parse(encode(resource))
    assert parsed.rows[REPORTS] == [] and parsed.received == 1
    assert "MeasureReport.measure is missing" in parsed.rejects[0].reason


def test_an_entry_without_resource_outside_a_write_bundle_breaks_bdl_5() -> None:
    parsed = measures.parse(encode(bundle("collection", {"fullUrl": "urn:uuid:x"})))
    (reject,) = parsed.rejects
    one_line(reject.reason, "no resource", "bdl-5")


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([report()], ["JSON array", "not a FHIR resource", "resourceType"]),
        ({"id": "x", "status": "complete"}, ["no resourceType", "FHIR R4 JSON"]),
        ({"resourceType": "Patient", "id": "p"}, ["a Patient is neither", "MeasureReport"]),
        ({"resourceType": "Bundle", "type": "history"}, ["history Bundle", "bdl-3", "search"]),
        (
            {"resourceType": "Bundle", "type": "transaction-response"},
            ["transaction-response", "bdl-4", "send the transaction Bundle"],
        ),
        ({"resourceType": "Bundle", "type": "batch-response"}, ["batch-response", "bdl-4"]),
        ({"resourceType": "Bundle"}, ["has no type", "required, 1..1", "set it to"]),
        (
            {"resourceType": "Bundle", "type": "searchSet"},
            ["'searchSet' is unknown", "bundle-type code"],
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": {"resource": report()}},
            ["Bundle.entry is a JSON dict", "not an array"],
        ),
        (
            bundle("document", {"resource": report()}),
            ["must start with a Composition", "bdl-11", "MeasureReport"],
        ),
        (bundle("message"), ["must start with a MessageHeader", "bdl-12", "holds none"]),
    ],
    ids=[
        "array",
        "no-resourceType",
        "patient",
        "history",
        "transaction-response",
        "batch-response",
        "no-type",
        "unknown-type",
        "entry-object",
        "document-without-composition",
        "message-without-header",
    ],
)
def test_documents_r4_does_not_allow_here_raise_one_line_naming_the_rule(
    document: Any, words: list[str]
) -> None:
    with pytest.raises(ParseError) as caught:
        measures.parse(encode(document))
    one_line(str(caught.value), measures.DATASET, *words)


def test_an_operation_outcome_document_is_one_line_quoting_its_issue() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "ช้าเกินไป\nลองใหม่"}],
    }
    with pytest.raises(ParseError) as caught:
        measures.parse(encode(outcome))
    one_line(str(caught.value), "OperationOutcome", "too-costly", "ช้าเกินไป ลองใหม่")


# --- FHIR: extract from a server answering these shapes (MockTransport) ------------------------


def mock_source() -> Source:
    return Source(
        dataset=measures.DATASET, url=BASE, page_size=2, backoff_seconds=0.0, max_retries=1
    )


def run_mock(handler: Callable[[httpx.Request], httpx.Response], watermark: str | None) -> list:
    source = mock_source()
    with make_client(source, transport=httpx.MockTransport(handler)) as client:
        return list(measures.extract(client, source, watermark))


def stamped(report_id: str, day: int) -> dict[str, Any]:
    return report(report_id, meta={"lastUpdated": f"2026-11-{day}T23:50:00.000+07:00"})


def test_extract_asks_again_after_each_lone_report_until_nothing_newer_comes() -> None:
    served = [stamped("a", 20), stamped("b", 21), stamped("c", 22)]
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bound = request.url.params.get("_lastUpdated")
        asked.append(bound)
        after = datetime.fromisoformat(bound[2:]) if bound else None
        newer = [r for r in served if after is None or _updated(r) > after]
        body = newer[0] if newer else bundle("searchset")
        return httpx.Response(200, content=encode(body))

    pages = run_mock(handler, watermark=None)
    assert asked == [None] + [f"gt2026-11-{d}T23:50:00.000+07:00" for d in (20, 21, 22)]
    assert [measures.parse(p.content).rows[REPORTS][0]["report_id"] for p in pages[:3]] == [
        "a",
        "b",
        "c",
    ]
    assert measures.parse(pages[3].content).received == 0
    marks = [p.watermark_after for p in pages]
    assert marks == [f"2026-11-{d}T23:50:00.000+07:00" for d in (20, 21, 22, 22)]


def test_extract_stops_when_a_lone_report_server_ignores_the_bound() -> None:
    calls: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        return httpx.Response(200, content=encode(stamped("a", 20)))

    pages = run_mock(handler, watermark="2026-11-19T00:00:00+07:00")
    assert len(calls) == 2 and len(pages) == 2  # the same report again: no newer one, stop
    assert pages[-1].watermark_after == "2026-11-20T23:50:00.000+07:00"


def test_extract_follows_next_links_of_a_collection_bundle() -> None:
    first = bundle("collection", {"resource": stamped("a", 20)})
    first["link"] = [{"relation": "next", "url": f"{BASE}/fhir/MeasureReport?page=2"}]
    pages_by_number = {"1": first, "2": bundle("collection", {"resource": stamped("b", 21)})}
    pages = run_mock(
        lambda r: httpx.Response(
            200, content=encode(pages_by_number[r.url.params.get("page", "1")])
        ),
        watermark=None,
    )
    assert [ids(measures.parse(p.content)) for p in pages] == [[(1, "a")], [(1, "b")]]
    assert pages[-1].watermark_after == "2026-11-21T23:50:00.000+07:00"


def test_extract_lands_a_history_bundle_then_stops_naming_the_rule() -> None:
    history = encode({"resourceType": "Bundle", "type": "history", "entry": []})
    source = mock_source()
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=history))
    with make_client(source, transport=transport) as client:
        iterator = measures.extract(client, source, None)
        page = next(iterator)
        with pytest.raises(SourceError) as caught:
            next(iterator)
    assert page.content == history and page.watermark_after is None
    one_line(str(caught.value), "history Bundle")


def _updated(resource: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(resource["meta"]["lastUpdated"])


# --- FHIR: the emulator's shapes, over loopback ------------------------------------------------

LATE = "2026-11-22T00:00:00+07:00"  # a watermark that leaves four days: few lone-report requests


@pytest.fixture(scope="module")
def university() -> Iterator[Emulator]:
    server = university_emulator.build(Clock(TODAY, history_days=30)).start()
    yield server
    server.stop()


def extract_measures(
    emulator: Emulator, shape: str | None, watermark: str | None = LATE
) -> tuple[list[Page], list[Parsed]]:
    emulator.faults.data.pop("shape", None)
    if shape:
        emulator.faults.data["shape"] = shape
    source = Source(dataset=measures.DATASET, url=emulator.url, page_size=20, backoff_seconds=0.01)
    with make_client(source) as client:
        pages = list(measures.extract(client, source, watermark))
    return pages, [measures.parse(page.content) for page in pages]


def report_ids(parsed: list[Parsed]) -> list[str]:
    return [row["report_id"] for p in parsed for row in p.rows[REPORTS]]


@pytest.mark.emulator
@pytest.mark.parametrize("shape", ["collection", "transaction", "batch", "resource"])
def test_emulator_shapes_bring_the_same_reports_as_the_search(
    university: Emulator, shape: str
) -> None:
    search_pages, searched = extract_measures(university, None)
    pages, parsed = extract_measures(university, shape)
    found = len(report_ids(searched))  # four days of 12 daily reports, and late revisions
    assert 4 * 12 <= found < 5 * 12 and len(search_pages) == -(-found // 20)
    assert report_ids(parsed) == report_ids(searched)
    assert all(p.rejects == [] and p.missing == {} for p in parsed)
    assert pages[-1].watermark_after == search_pages[-1].watermark_after
    documents = [json.loads(page.content) for page in pages]
    if shape == "resource":  # one bare report per answer, then an empty searchset
        assert len(pages) == found + 1
        assert {d["resourceType"] for d in documents[:-1]} == {"MeasureReport"}
        assert documents[-1]["type"] == "searchset" and documents[-1]["entry"] == []
        return
    for document in documents:
        assert document["type"] == shape and "total" not in document  # bdl-1
        entries = document["entry"]
        assert entries[0]["resource"]["resourceType"] == "Organization"
        assert all("search" not in e for e in entries)  # bdl-2
        assert all(("request" in e) == (shape != "collection") for e in entries)  # bdl-3
    # rows keep their entry number: the reporter is entry 1 of each page
    assert [r[ROW] for r in parsed[0].rows[REPORTS]] == list(range(2, 22))


@pytest.mark.emulator
def test_emulator_transaction_shape_with_malformed_reports_quarantines_by_entry(
    university: Emulator,
) -> None:
    university.faults.data["malformed_rows"] = 2  # a bad count and a report without id
    _, parsed = extract_measures(university, "transaction")
    rejects = [r for p in parsed for r in p.rejects]
    assert len(rejects) == 2 * len(parsed)
    without_id = [r for r in rejects if "'report_id'" in r.reason]
    assert without_id and all("id" not in json.loads(r.payload) for r in without_id)
    assert all(r.row_number >= 2 for r in rejects)  # entry 1 is the reporter


# --- FHIR: the received file's kind ------------------------------------------------------------

PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("stops.txt", "stop_id\n")
    return buffer.getvalue()


def test_measures_check_kind_takes_fhir_json_objects() -> None:
    for name in ("measure_report_summary.json", "bundle_collection.json"):
        measures.check_kind(sample(name))
    measures.check_kind(b"\xef\xbb\xbf  " + encode({"resourceType": "Patient"}))  # parse decides


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (PASSWD, "text starting 'root:x:0:0"),
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>login</body></html>", "an HTML page"),
        (zipped(), "a zip archive"),
        (encode([{"resourceType": "MeasureReport"}]), "a JSON array"),
        (b'<MeasureReport xmlns="http://hl7.org/fhir"><id value="x"/></MeasureReport>', "FHIR XML"),
        (bytes(range(256)), "binary data"),
    ],
    ids=["passwd", "empty", "html", "zip", "array", "fhir-xml", "binary"],
)
def test_measures_check_kind_refuses_what_is_not_fhir_json(content: bytes, what: str) -> None:
    with pytest.raises(WrongKindError) as caught:
        measures.check_kind(content)
    one_line(str(caught.value), f"is {what}", "takes FHIR R4 JSON")


# --- research CSV: the received file's kind ----------------------------------------------------

HEADER = "เลขที่เหตุการณ์,วันเวลารับแจ้ง,วันเวลาถึงที่เกิดเหตุ,เทศบาล"


def test_research_check_kind_takes_csv_text_in_cp874_or_utf8() -> None:
    research.check_kind(f"{HEADER}\r\nEMS2568-1125-0001,x,y,z\r\n".encode("cp874"))
    research.check_kind(f"{HEADER}\r\n".encode("tis-620"))
    research.check_kind(b"\xef\xbb\xbf" + f"{HEADER}\n".encode())
    research.check_kind(b"incident_id,call_time\n1,2\n")  # wrong headers: the suite's call


def test_research_utf8_export_is_the_right_kind_but_parse_asks_for_cp874() -> None:
    content = f"{HEADER}\r\n".encode()
    research.check_kind(content)
    with pytest.raises(ParseError) as caught:
        research.parse(content)
    one_line(str(caught.value), "does not decode as cp874", "export it again in cp874")


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (PASSWD, "no comma in its first line"),
        (zipped(), "a zip archive"),
        (b"<html><head><title>KKU</title></head></html>", "an HTML page"),
        (b'{"incident_id": "EMS1"}', "JSON"),
        (b'[{"incident_id": "EMS1"}]', "JSON"),
        (b"<?xml version='1.0'?><rows/>", "XML"),
        (b"\x00\x01\x02,\x03\x04", "binary data"),
        (b"\x81\x82\x83,\x84\n", "binary data starting 81 82 83"),
        (b"   \n", "only white space"),
    ],
    ids=["passwd", "zip", "html", "json", "json-array", "xml", "binary", "undecodable", "blank"],
)
def test_research_check_kind_refuses_what_is_not_a_csv_export(content: bytes, what: str) -> None:
    with pytest.raises(WrongKindError) as caught:
        research.check_kind(content)
    one_line(str(caught.value), what, "not a CSV export", "cp874 (TIS-620) or UTF-8")


# --- Open311: JSON and XML ---------------------------------------------------------------------


def as_json(xml_rows: list[dict[str, Any]]) -> bytes:
    return encode(xml_rows)


def typed(parsed: Parsed) -> list[dict[str, Any]]:
    return parsed.rows[REQUESTS]


def test_xml_requests_type_like_their_json_form_in_document_order() -> None:
    parsed = citizens.parse(sample("requests.xml"))
    assert parsed.rejects == [] and parsed.missing == {}
    first, second = typed(parsed)
    assert (first[ROW], second[ROW]) == (1, 2)
    assert first["service_request_id"] == "YP-20261120-001"
    assert first["description"] == "ถนนเป็นหลุมใหญ่หน้าตลาดสด & ทางเท้าทรุด"  # &amp; unescaped
    assert first["requested_datetime"] == datetime(2026, 11, 20, 1, 15, tzinfo=UTC)
    assert (first["lat"], first["long"]) == (16.43, 102.83)
    assert first["media_url"] is None and first["address_id"] is None  # empty elements: null
    assert first["service_notice"] is None
    assert second["media_url"].endswith("YP-20261120-002.jpg")
    # the same requests written as JSON type to the same rows
    same = [
        {k: v for k, v in row.items() if k != ROW}
        | {
            "requested_datetime": row["requested_datetime"].astimezone(BANGKOK).isoformat(),
            "updated_datetime": row["updated_datetime"].astimezone(BANGKOK).isoformat(),
            "expected_datetime": row["expected_datetime"].astimezone(BANGKOK).isoformat(),
        }
        for row in typed(parsed)
    ]
    assert typed(citizens.parse(as_json(same))) == typed(parsed)


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0" encoding="utf-8"?>\n<service_requests/>\n',
        b"<service_requests>\n  \n</service_requests>",
        b"\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?><service_requests></service_requests>",
    ],
    ids=["self-closing", "whitespace", "bom"],
)
def test_an_empty_xml_request_list_is_a_valid_empty_window(content: bytes) -> None:
    parsed = citizens.parse(content)
    assert parsed.rows == {REQUESTS: []} and parsed.rejects == [] and parsed.missing == {}


def test_xml_rows_that_cannot_be_typed_are_rejects_kept_as_received_xml() -> None:
    good = sample("requests.xml").decode()
    request = good[good.index("<request>") : good.index("</request>") + len("</request>")]
    bad_lat = request.replace("<lat>16.43</lat>", "<lat>n/a</lat>").replace("-001", "-009")
    nested = request.replace("<lat>16.43</lat>", "<lat><deg>16</deg></lat>").replace("-001", "-8")
    content = (
        "<service_requests>"
        + bad_lat
        + "<note>ส่งต่อ</note>"
        + request
        + nested
        + "<request/></service_requests>"
    ).encode()
    parsed = citizens.parse(content)
    assert [(r[ROW], r["service_request_id"]) for r in typed(parsed)] == [(3, "YP-20261120-001")]
    reasons = {r.row_number: r.reason for r in parsed.rejects}
    assert set(reasons) == {1, 2, 4, 5}
    assert "'lat'" in reasons[1] and "'lat'" in reasons[4]
    one_line(reasons[2], "element <note> is not a <request>")
    assert "key is missing" in reasons[5]
    assert parsed.rejects[0].payload == bad_lat  # the <request> element as received
    assert parsed.received == 5


def test_xml_field_absent_from_every_request_is_drift() -> None:
    content = sample("requests.xml").replace(b"<address_id/>", b"").replace(b"<zipcode>", b"<x>")
    content = content.replace(b"</zipcode>", b"</x>")
    parsed = citizens.parse(content)
    assert parsed.missing == {REQUESTS: {"address_id", "zipcode"}}
    assert len(typed(parsed)) == 2 and parsed.rejects == []


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (sample("errors.xml"), ["GeoReport error", "'Errors'", "403 Invalid api_key"]),
        (
            encode([{"code": 400, "description": "start_date:\nnot a W3C datetime"}]),
            ["GeoReport error", "400 start_date: not a W3C datetime"],
        ),
        (
            encode([{"code": 403, "description": "a"}, {"code": 404, "description": "b"}]),
            ["403 a; 404 b"],
        ),
        (sample("requests_doctype.xml"), ["DOCTYPE", "entity-expansion", "without the <!DOCTYPE>"]),
        (
            b'<?xml version="1.0"?><!DOCTYPE service_requests SYSTEM "file:///etc/passwd">'
            b"<service_requests/>",
            ["DOCTYPE", "uses no DTD"],
        ),
        (
            '<?xml version="1.0" encoding="ISO-8859-1"?><service_requests/>'.encode("latin-1"),
            ["encoding 'ISO-8859-1'", "requires UTF-8", "'Encoding'"],
        ),
        (
            "<service_requests/>".encode("utf-16"),
            ["UTF-16", "requires UTF-8"],
        ),
        (b"<rss><channel/></rss>", ["root element <rss>", "<service_requests>"]),
        (sample("requests.xml")[:300], ["not well-formed XML", "line", "resend"]),
        (b'{"service_requests": []}', ["is a dict, not an array", "GET Service Requests"]),
    ],
    ids=[
        "xml-error",
        "json-error",
        "json-errors",
        "doctype-entities",
        "doctype-external",
        "latin-1",
        "utf-16",
        "other-root",
        "truncated",
        "json-object",
    ],
)
def test_open311_documents_refused_raise_one_line_naming_the_rule(
    content: bytes, words: list[str]
) -> None:
    with pytest.raises(ParseError) as caught:
        citizens.parse(content)
    one_line(str(caught.value), citizens.DATASET, *words)


def test_a_doctype_is_refused_before_any_entity_is_expanded() -> None:
    laughs = sample("requests_doctype.xml").replace(b"&c;", b"&c;" * 1000)
    with pytest.raises(ParseError, match="DOCTYPE"):
        citizens.parse(laughs)


def test_citizens_check_kind_takes_json_arrays_and_georeport_xml() -> None:
    for content in (
        b"[]",
        b"\xef\xbb\xbf [{}]",
        sample("requests.xml"),
        sample("errors.xml"),
        sample("requests_doctype.xml"),  # GeoReport XML by its root: parse refuses the DOCTYPE
        b"<service_requests/>",
    ):
        citizens.check_kind(content)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (PASSWD, "text starting 'root:x:0:0"),
        (b'{"service_request_id": "YP-1"}', "a JSON object"),
        (b"<!DOCTYPE html><html></html>", "an HTML page"),
        (b"<?xml version='1.0'?><rss version='2.0'/>", "XML with root element <rss>"),
        (zipped(), "a zip archive"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "binary data"),
    ],
    ids=["passwd", "json-object", "html", "rss", "zip", "icon"],
)
def test_citizens_check_kind_refuses_what_is_not_a_request_list(content: bytes, what: str) -> None:
    with pytest.raises(WrongKindError) as caught:
        citizens.check_kind(content)
    one_line(str(caught.value), f"is {what}", "requests.json", "requests.xml")


def test_received_file_refuses_each_wrong_kind_before_landing(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_bytes(PASSWD)
    for connector in (measures, research, citizens):
        with pytest.raises(WrongKindError) as caught:
            received_file(connector, path)
        one_line(str(caught.value), connector.DATASET, str(path), "nothing landed")


# --- Open311: extract in XML (MockTransport) -------------------------------------------------


def xml_page(rows: list[str]) -> bytes:
    return ("<service_requests>" + "".join(rows) + "</service_requests>").encode()


def xml_request(number: int) -> str:
    return (
        f"<request><service_request_id>R{number}</service_request_id><status>open</status>"
        "<requested_datetime>2026-11-20T08:00:00+07:00</requested_datetime>"
        "<updated_datetime>2026-11-20T08:00:00+07:00</updated_datetime></request>"
    )


def run_citizens(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> list[Page]:
    source = Source(
        dataset=citizens.DATASET,
        url="http://you-pee.test",
        page_size=2,
        backoff_seconds=0.01,
        options={"now": "2026-11-26T00:00:00+07:00", "history_days": 10, **options},
    )
    with make_client(source, httpx.MockTransport(handler)) as client:
        return list(citizens.extract(client, source, None))


def test_extract_in_xml_asks_for_requests_xml_and_pages_on_its_requests() -> None:
    answers = iter([xml_page([xml_request(1), xml_request(2)]), xml_page([xml_request(3)])])
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.url.path}?page={request.url.params['page']}")
        return httpx.Response(200, content=next(answers), headers={"Content-Type": "text/xml"})

    pages = run_citizens(handler, format="xml")
    assert paths == ["/open311/v2/requests.xml?page=1", "/open311/v2/requests.xml?page=2"]
    assert [p.extension for p in pages] == ["xml", "xml"]
    assert pages[-1].watermark_after == "2026-11-25T17:00:00+00:00"  # the short page closed it
    rows = [r["service_request_id"] for p in pages for r in typed(citizens.parse(p.content))]
    assert rows == ["R1", "R2", "R3"]


def test_extract_lands_an_xml_error_answered_with_200_then_stops() -> None:
    error = sample("errors.xml")
    with pytest.raises(SourceError) as caught:
        run_citizens(lambda request: httpx.Response(200, content=error), format="xml")
    one_line(str(caught.value), "cannot page on", "403 Invalid api_key")


def test_extract_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="json or xml"):
        run_citizens(lambda request: httpx.Response(200, content=b"[]"), format="csv")


# --- Open311: the emulator's XML, over loopback ------------------------------------------------

NOW = datetime(2026, 11, 26, tzinfo=BANGKOK)


@pytest.fixture(scope="module")
def you_pee() -> Iterator[Emulator]:
    server = citizens_emulator.build(Clock(TODAY, history_days=30)).start()
    yield server
    server.stop()


def extract_requests(emulator: Emulator, **options: Any) -> tuple[list[Page], list[Parsed]]:
    source = Source(
        dataset=citizens.DATASET,
        url=emulator.url,
        page_size=25,
        backoff_seconds=0.01,
        options={"now": NOW.isoformat(), "history_days": 4, "window_days": 10, **options},
    )
    with make_client(source) as client:
        pages = list(citizens.extract(client, source, None))
    return pages, [citizens.parse(page.content) for page in pages]


def rows_of(parsed: list[Parsed]) -> list[dict[str, Any]]:
    return [row for p in parsed for row in p.rows[REQUESTS]]


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("options", "shape", "extension", "path"),
    [
        ({"format": "xml"}, None, "xml", "/open311/v2/requests.xml"),
        ({}, "xml", "xml", "/open311/v2/requests.json"),  # a server that only speaks XML
        ({"format": "xml"}, "json", "json", "/open311/v2/requests.xml"),
    ],
    ids=["path-xml", "shape-xml", "shape-json"],
)
def test_emulator_xml_and_json_bring_the_same_rows(
    you_pee: Emulator, options: dict[str, Any], shape: str | None, extension: str, path: str
) -> None:
    json_pages, json_parsed = extract_requests(you_pee)
    if shape:
        you_pee.faults.data["shape"] = shape
    pages, parsed = extract_requests(you_pee, **options)
    assert len(pages) == len(json_pages) >= 2
    assert {p.extension for p in pages} == {extension}
    assert all(httpx.URL(p.url).path == path for p in pages)
    assert rows_of(parsed) == rows_of(json_parsed) and len(rows_of(parsed)) > 25
    assert all(p.rejects == [] for p in parsed)
    assert [p.watermark_after for p in pages] == [p.watermark_after for p in json_pages]


@pytest.mark.emulator
def test_emulator_xml_faults_become_rejects_at_their_document_position(you_pee: Emulator) -> None:
    you_pee.faults.data.update(malformed_rows=4, missing_column="media_url")
    pages, parsed = extract_requests(you_pee, format="xml")
    for page, result in zip(pages, parsed, strict=True):
        assert b"<media_url" not in page.content
        assert result.missing == ({REQUESTS: {"media_url"}} if result.received else {})
        assert [r.row_number for r in result.rejects] == list(range(1, min(4, result.received) + 1))
        assert all(r.payload.startswith("<request>") for r in result.rejects)


@pytest.mark.emulator
def test_emulator_answers_georeport_errors_as_xml(you_pee: Emulator) -> None:
    response = httpx.get(
        f"{you_pee.url}/open311/v2/requests.xml",
        params={"start_date": "2026-01-01T00:00:00+07:00", "end_date": "2026-11-01T00:00:00+07:00"},
    )
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/xml")
    with pytest.raises(ParseError) as caught:
        citizens.parse(response.content)
    one_line(str(caught.value), "400 the date range may not span more than 90 days")
    empty = httpx.get(
        f"{you_pee.url}/open311/v2/requests.xml",
        params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-02-01T00:00:00Z"},
    )
    assert b"<service_requests/>" in empty.content
    assert citizens.parse(empty.content).received == 0


# --- received = loaded + quarantined through the loader ----------------------------------------


def landed(url: str, content: bytes, extension: str) -> Page:
    return Page(url=url, content=content, extension=extension, received_at=datetime.now(UTC))


def test_loader_balances_a_transaction_bundle_and_an_xml_page(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "data")
    transaction = landed(
        "file:///bundle_transaction.json", sample("bundle_transaction.json"), "json"
    )
    result = ingest_page(warehouse, measures, measures.DATASET, transaction, None)
    # the DELETE entry is no row: 2 received, the report without id quarantined
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)

    good = sample("requests.xml").decode()
    content = good.replace("<lat>16.48</lat>", "<lat>n/a</lat>").encode()
    xml = landed("file:///requests.xml", content, "xml")
    result = ingest_page(warehouse, citizens, citizens.DATASET, xml, None)
    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    with warehouse.read() as con:
        [(number, reason, payload)] = con.execute(
            "select row_number, reason, payload from quarantine.rows where dataset = ?",
            [citizens.DATASET],
        ).fetchall()
    assert number == 2 and "'lat'" in reason and payload.startswith("<request>")
