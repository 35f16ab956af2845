"""university.measures: FHIR MeasureReport search, unit (MockTransport) and against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors import university_measures as measures
from connectors.base import ROW, Parsed, ParseError, Source, SourceError
from connectors.http import make_client
from emulators.server import Emulator
from emulators.synthetic import MUNICIPALITIES, Clock
from emulators.university import build

TODAY = date(2026, 11, 26)
BASE = "http://fhir.test"
TABLE = measures.REPORTS.name


# --- hand-written FHIR ------------------------------------------------------------------------


def report(
    report_id: str | None = "tele-sila-20261120",
    *,
    measure: str = "telemedicine-consultations",
    updated: str = "2026-11-20T23:50:01.000+07:00",
    counts: dict[str, Any] | None = None,
    score: Any = 3,
    period: tuple[str, str] = ("2026-11-20", "2026-11-20"),
) -> dict[str, Any]:
    counts = {"initial-population": 3, "numerator": 3} if counts is None else counts
    resource: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "meta": {"versionId": "1", "lastUpdated": updated},
        "status": "complete",
        "type": "summary",
        "measure": f"http://fhir.kku.ac.th/Measure/{measure}|1.0",
        "subject": {"reference": "Location/sila", "display": "เทศบาลเมืองศิลา"},
        "date": updated,
        "period": {"start": period[0], "end": period[1]},
        "group": [
            {
                "population": [
                    {"code": {"coding": [{"code": code}]}, "count": n} for code, n in counts.items()
                ],
                "measureScore": {"value": score, "unit": "consultations"},
            }
        ],
    }
    if report_id is not None:
        resource["id"] = report_id
    return resource


def bundle(*resources: dict[str, Any], next_url: str | None = None, **extra: Any) -> dict:
    links = [{"relation": "self", "url": f"{BASE}/fhir/MeasureReport"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": links,
        "entry": entries + extra.get("entries", []),
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def mock_source(**options: Any) -> Source:
    return Source(
        dataset=measures.DATASET,
        url=BASE,
        page_size=2,
        backoff_seconds=0.0,
        max_retries=1,
        options=options,
    )


def run_mock(
    handler: Callable[[httpx.Request], httpx.Response], watermark: str | None = None
) -> list:
    source = mock_source()
    with make_client(source, transport=httpx.MockTransport(handler)) as client:
        return list(measures.extract(client, source, watermark))


def fhir(document: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=encode(document), headers={"Content-Type": "application/fhir+json"}
    )


# --- parse ------------------------------------------------------------------------------------


def test_parse_flattens_count_and_proportion_reports() -> None:
    ehr = report(
        "ehr-sila-202610",
        measure="ehr-coverage",
        updated="2026-10-31T23:58:01.250+07:00",
        counts={"initial-population": 200, "denominator": 200, "numerator": 150},
        score=0.75,
        period=("2026-10-01", "2026-10-31"),
    )
    parsed = measures.parse(encode(bundle(report(), ehr)))
    assert parsed.rejects == []
    tele, coverage = parsed.rows[TABLE]
    assert tele["measure"] == "telemedicine-consultations"  # version suffix dropped
    assert tele["measure_url"].endswith("|1.0")
    assert tele["municipality_id"] == "sila"
    assert tele["subject_display"] == "เทศบาลเมืองศิลา"
    assert (tele["numerator"], tele["denominator"], tele["initial_population"]) == (3, None, 3)
    assert tele["period_start"] == date(2026, 11, 20)
    assert tele["last_updated"] == datetime(2026, 11, 20, 16, 50, 1, tzinfo=UTC)
    assert coverage["period_end"] == date(2026, 10, 31)
    assert (coverage["numerator"], coverage["denominator"]) == (150, 200)
    assert coverage["measure_score"] == 0.75


def test_parse_maps_hyphenated_location_ids_and_local_dates() -> None:
    resource = report(period=("2026-11-20T00:00:00+07:00", "2026-11-20T23:59:59+07:00"))
    resource["subject"]["reference"] = "Location/khon-kaen-city"
    resource["date"] = "2026-11-21"
    row = measures.parse(encode(bundle(resource))).rows[TABLE][0]
    assert row["municipality_id"] == "khon_kaen_city"
    assert row["subject_reference"] == "Location/khon-kaen-city"
    assert (row["period_start"], row["period_end"]) == (date(2026, 11, 20), date(2026, 11, 20))
    assert row["report_date"] == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def test_parse_rejects_rows_naming_the_column_and_keeps_the_rest() -> None:
    bad_count = report("tele-sila-20261121", counts={"numerator": "n/a"})
    no_key = report(None)
    parsed = measures.parse(encode(bundle(report(), bad_count, no_key)))
    assert [(r[ROW], r["report_id"]) for r in parsed.rows[TABLE]] == [(1, "tele-sila-20261120")]
    assert [(r.row_number, r.table) for r in parsed.rejects] == [(2, TABLE), (3, TABLE)]
    assert "'numerator'" in parsed.rejects[0].reason
    assert "'report_id'" in parsed.rejects[1].reason
    assert json.loads(parsed.rejects[0].payload)["id"] == "tele-sila-20261121"
    assert parsed.received == 3


def test_parse_skips_search_outcome_entries_and_other_resources_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warning = {
        "resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]},
        "search": {"mode": "outcome"},
    }
    patient = {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "match"}}
    with caplog.at_level("INFO", logger=measures.__name__):
        parsed = measures.parse(encode(bundle(report(), entries=[warning, patient])))
    assert len(parsed.rows[TABLE]) == 1
    assert parsed.rejects == [] and parsed.received == 1  # not rows of this table
    (line,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "1 Patient" in line and "1 search outcome" in line and TABLE in line


def test_parse_rejects_entries_of_a_shape_fhir_does_not_allow() -> None:
    odd = report("tele-sila-20261121")
    odd["group"] = [{"population": ["not a population"]}]
    parsed = measures.parse(encode(bundle(report(), odd, entries=["not an entry"])))
    assert len(parsed.rows[TABLE]) == 1
    assert [r.row_number for r in parsed.rejects] == [2, 3]
    assert "malformed" in parsed.rejects[0].reason and "no resource" in parsed.rejects[1].reason


def test_parse_raises_on_truncated_json() -> None:
    content = encode(bundle(report()))
    with pytest.raises(ParseError, match=r"not valid JSON.*char 428 of 428 bytes"):
        measures.parse(content[: len(content) // 2])


def test_parse_names_an_element_missing_from_every_report_and_types_it_null() -> None:
    first, second = report(), report("tele-sila-20261121")
    for resource in (first, second):
        del resource["group"][0]["measureScore"]
    parsed = measures.parse(encode(bundle(first, second)))
    assert parsed.missing == {TABLE: {"measure_score"}}
    assert parsed.rejects == []
    assert [(r[ROW], r["measure_score"]) for r in parsed.rows[TABLE]] == [(1, None), (2, None)]


def test_parse_a_drifted_id_or_subject_keeps_the_rows_for_the_suite_to_judge() -> None:
    first, second = report(), report("tele-sila-20261121")
    for resource in (first, second):
        del resource["id"], resource["subject"]
    parsed = measures.parse(encode(bundle(first, second)))
    assert parsed.missing == {TABLE: {"report_id", "subject_reference", "municipality_id"}}
    assert parsed.rejects == []  # not rejected one by one for their missing key
    assert [r["report_id"] for r in parsed.rows[TABLE]] == [None, None]


def test_parse_an_element_some_reports_carry_is_not_drift() -> None:
    without = report("tele-sila-20261121")
    del without["group"][0]["measureScore"]
    parsed = measures.parse(encode(bundle(report(), without)))
    assert parsed.missing == {}
    assert [r["measure_score"] for r in parsed.rows[TABLE]] == [3, None]


def test_parse_raises_on_a_bundle_type_that_carries_no_reports() -> None:
    with pytest.raises(ParseError, match="history Bundle"):
        measures.parse(encode({"resourceType": "Bundle", "type": "history"}))


def test_parse_of_an_empty_bundle_has_no_rows() -> None:
    parsed = measures.parse(encode(bundle()))
    assert parsed.rows == {TABLE: []} and parsed.rejects == []


# --- extract (MockTransport) ------------------------------------------------------------------


def test_extract_follows_next_links_and_holds_back_an_instant_split_across_pages() -> None:
    t1, t2, t3 = (f"2026-11-2{d}T23:50:00.000+07:00" for d in (1, 2, 3))
    pages = {
        "1": bundle(report("a", updated=t1), report("b", updated=t2), next_url=f"{BASE}/p?page=2"),
        "2": bundle(report("c", updated=t2), report("d", updated=t3), next_url=f"{BASE}/p?page=3"),
        "3": bundle(report("e", updated=t3)),
    }
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return fhir(pages[request.url.params.get("page", "1")])

    result = run_mock(handler, watermark="2026-11-20T23:50:00.000+07:00")
    first = seen[0].params
    assert seen[0].path == "/fhir/MeasureReport"
    assert first["_lastUpdated"] == "gt2026-11-20T23:50:00.000+07:00"
    assert (first["_sort"], first["_count"]) == ("_lastUpdated", "2")
    assert [str(u) for u in seen[1:]] == [f"{BASE}/p?page=2", f"{BASE}/p?page=3"]
    # t2 continues on page 2, so page 1 only settles t1; page 2 settles t2; the end settles t3.
    assert [p.watermark_after for p in result] == [t1, t2, t3]
    assert all(p.extension == "json" for p in result)


def test_extract_without_watermark_asks_for_everything() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return fhir(bundle(report()))

    result = run_mock(handler)
    assert "_lastUpdated" not in seen[0].params
    assert [p.watermark_after for p in result] == ["2026-11-20T23:50:01.000+07:00"]


def test_extract_of_nothing_new_keeps_the_watermark() -> None:
    result = run_mock(lambda request: fhir(bundle()), watermark="2026-11-20T23:50:00+07:00")
    assert len(result) == 1
    assert result[0].watermark_after == "2026-11-20T23:50:00+07:00"
    assert measures.parse(result[0].content).received == 0


def test_extract_keeps_the_watermark_until_the_end_when_the_server_ignores_sort() -> None:
    late, early = "2026-11-23T23:50:00.000+07:00", "2026-11-21T23:50:00.000+07:00"
    pages = {
        "1": bundle(
            report("a", updated=late), report("b", updated=early), next_url=f"{BASE}/p?page=2"
        ),
        "2": bundle(report("c", updated="2026-11-22T23:50:00.000+07:00")),
    }
    result = run_mock(lambda r: fhir(pages[r.url.params.get("page", "1")]), watermark=None)
    assert [p.watermark_after for p in result] == [None, late]


@pytest.mark.parametrize(
    "document",
    [
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "ค้นหานานเกินไป"}],
        },
        bundle(
            report(),
            entries=[
                {
                    "resource": {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "fatal",
                                "code": "exception",
                                "details": {"text": "ค้นหานานเกินไป"},
                            }
                        ],
                    },
                    "search": {"mode": "outcome"},
                }
            ],
        ),
    ],
    ids=["bare", "in-bundle"],
)
def test_extract_raises_source_error_naming_an_operation_outcome(document: dict) -> None:
    with pytest.raises(SourceError, match="ค้นหานานเกินไป"):
        run_mock(lambda request: fhir(document))


def test_extract_lands_an_unreadable_page_then_stops() -> None:
    pages = []
    source = mock_source()
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b'{"resourceType": "Bu'))
    with make_client(source, transport=transport) as client:
        iterator = measures.extract(client, source, "2026-11-20T23:50:00+07:00")
        pages.append(next(iterator))
        with pytest.raises(SourceError, match="cannot follow paging"):
            next(iterator)
    assert pages[0].watermark_after == "2026-11-20T23:50:00+07:00"
    with pytest.raises(ParseError):
        measures.parse(pages[0].content)


def test_extract_refuses_a_next_link_loop() -> None:
    looping = bundle(report(), next_url=f"{BASE}/fhir/MeasureReport?_count=2&_sort=_lastUpdated")
    with pytest.raises(SourceError, match="repeats"):
        run_mock(lambda request: fhir(looping))


# --- against the emulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = build(Clock(TODAY, history_days=30)).start()
    yield server
    server.stop()


@pytest.fixture
def source(emulator: Emulator) -> Iterator[Source]:
    yield Source(dataset=measures.DATASET, url=emulator.url, page_size=100, backoff_seconds=0.01)
    emulator.faults.reset()


def extract_all(source: Source, watermark: str | None = None) -> tuple[list, list[Parsed]]:
    with make_client(source) as client:
        pages = list(measures.extract(client, source, watermark))
    return pages, [measures.parse(page.content) for page in pages]


def rows_of(parsed: list[Parsed]) -> list[dict[str, Any]]:
    return [row for p in parsed for row in p.rows[TABLE]]


@pytest.mark.emulator
def test_emulator_serves_a_clean_month_of_reports(source: Source) -> None:
    pages, parsed = extract_all(source)
    rows = rows_of(parsed)
    total = json.loads(pages[0].content)["total"]
    assert len(pages) == -(-total // 100) and len(rows) == total
    assert all(not p.rejects and not p.missing for p in parsed)
    for page in parsed:  # each row knows its entry number in its own Bundle
        assert [r[ROW] for r in page.rows[TABLE]] == list(range(1, len(page.rows[TABLE]) + 1))
    assert len({r["report_id"] for r in rows}) == len(rows)
    ids = {m.municipality_id for m in MUNICIPALITIES}
    assert {r["municipality_id"] for r in rows} == ids
    by_measure = {
        m: [r for r in rows if r["measure"] == m]
        for m in ("telemedicine-consultations", "ems-calls", "ehr-coverage")
    }
    assert len(by_measure["telemedicine-consultations"]) == 30 * 6
    assert len(by_measure["ems-calls"]) == 30 * 6
    assert len(by_measure["ehr-coverage"]) == 6  # October 2026 is the only month that closed
    assert any(r["numerator"] < 5 for r in by_measure["telemedicine-consultations"])
    assert any(r["version_id"] == "2" for r in rows)  # late revisions
    for row in by_measure["ehr-coverage"]:
        assert 0 < row["measure_score"] <= 1
        assert row["measure_score"] == pytest.approx(row["numerator"] / row["denominator"], 1e-3)
        assert (row["period_start"], row["period_end"]) == (date(2026, 10, 1), date(2026, 10, 31))
    for row in rows:
        assert row["numerator"] >= 0 and row["status"] == "complete"
        assert row["last_updated"].tzinfo == UTC
        assert TODAY - timedelta(days=30) <= row["period_end"] < TODAY
    updated = [r["last_updated"] for r in rows]
    assert updated == sorted(updated)


@pytest.mark.emulator
def test_emulator_watermark_brings_only_what_is_new(source: Source) -> None:
    pages, parsed = extract_all(source)
    newest = max(r["last_updated"] for r in rows_of(parsed))
    final = pages[-1].watermark_after
    assert datetime.fromisoformat(final) == newest
    marks = [datetime.fromisoformat(p.watermark_after) for p in pages]
    assert marks == sorted(marks)
    again, reparsed = extract_all(source, final)
    assert len(again) == 1 and reparsed[0].received == 0
    assert again[0].watermark_after == final
    # Resuming from the first page's watermark reads exactly the reports after it.
    middle = pages[0].watermark_after
    _, rest = extract_all(source, middle)
    assert rows_of(rest) and all(
        r["last_updated"] > datetime.fromisoformat(middle) for r in rows_of(rest)
    )
    assert {r["report_id"] for r in rows_of(parsed)} >= {r["report_id"] for r in rows_of(rest)}


@pytest.mark.emulator
def test_emulator_malformed_rows_become_rejects_naming_the_column(
    emulator: Emulator, source: Source
) -> None:
    emulator.faults.data["malformed_rows"] = 2
    pages, parsed = extract_all(source)
    rejects = [r for p in parsed for r in p.rejects]
    assert len(rejects) == 2 * len(pages)
    assert all("'numerator'" in r.reason or "'report_id'" in r.reason for r in rejects)
    assert {"'numerator'" in r.reason for r in rejects} == {True, False}
    rows = rows_of(parsed)
    assert len(rows) + len(rejects) == json.loads(pages[0].content)["total"]
    assert all(isinstance(r["numerator"], int) for r in rows)


@pytest.mark.emulator
def test_emulator_value_faults_show_in_the_rows(emulator: Emulator, source: Source) -> None:
    emulator.faults.data.update(out_of_range=1, duplicate_rows=1, unknown_codes=1)
    pages, parsed = extract_all(source)
    rows = rows_of(parsed)
    assert len(rows) - len({r["report_id"] for r in rows}) == len(pages)
    assert sum(r["municipality_id"] == "phra_lap" for r in rows) >= len(pages)
    impossible = [r for r in rows if r["numerator"] < 0 or r["measure_score"] > 1]
    assert len(impossible) >= len(pages)


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("dropped", "columns"),
    [
        ("measureScore", {"measure_score"}),
        ("numerator", {"numerator"}),
        ("id", {"report_id"}),
    ],
)
def test_emulator_missing_column_is_named_as_missing(
    emulator: Emulator, source: Source, dropped: str, columns: set[str]
) -> None:
    emulator.faults.data["missing_column"] = dropped
    pages, parsed = extract_all(source)
    assert all(p.missing == {TABLE: columns} for p in parsed)
    rows = rows_of(parsed)
    assert len(rows) == json.loads(pages[0].content)["total"]
    assert all(row[column] is None for row in rows for column in columns)


@pytest.mark.emulator
def test_emulator_reports_without_a_mandatory_period_are_rejected_naming_it(
    emulator: Emulator, source: Source
) -> None:
    emulator.faults.data["missing_column"] = "period"  # MeasureReport.period is 1..1 in R4
    pages, parsed = extract_all(source)
    rejects = [r for p in parsed for r in p.rejects]
    assert rows_of(parsed) == [] and len(rejects) == json.loads(pages[0].content)["total"]
    assert {r.reason for r in rejects} == {
        "MeasureReport.period is missing: FHIR R4 requires it (cardinality 1..1)"
    }


@pytest.mark.emulator
def test_emulator_stale_feed_stops_publishing(emulator: Emulator, source: Source) -> None:
    emulator.faults.data["stale_feed"] = True
    _, parsed = extract_all(source)
    assert max(r["period_end"] for r in rows_of(parsed)) == TODAY - timedelta(days=4)


@pytest.mark.emulator
def test_emulator_operation_outcome_is_a_source_error(emulator: Emulator, source: Source) -> None:
    emulator.faults.data["operation_outcome"] = "ฐานข้อมูลปิดปรับปรุง"
    with pytest.raises(SourceError, match="ฐานข้อมูลปิดปรับปรุง"):
        extract_all(source)


@pytest.mark.emulator
def test_emulator_answers_a_bad_search_parameter_with_an_operation_outcome(
    emulator: Emulator,
) -> None:
    url = f"{emulator.url}/fhir/MeasureReport"
    response = httpx.get(url, params={"_lastUpdated": "gtyesterday"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"


def test_extract_refuses_a_stored_watermark_that_is_not_an_instant() -> None:
    with pytest.raises(SourceError, match="watermark"):
        run_mock(lambda request: fhir(bundle()), watermark="yesterday")


@pytest.mark.emulator
def test_emulator_http_faults_are_retried(emulator: Emulator, source: Source) -> None:
    emulator.faults.inject("status", count=2, status=503)
    emulator.faults.inject("rate_limit", retry_after=0)
    emulator.faults.inject("truncate")
    pages, parsed = extract_all(source)
    assert len(rows_of(parsed)) == json.loads(pages[0].content)["total"]
