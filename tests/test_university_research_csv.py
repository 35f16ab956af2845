"""university.research_csv: the cp874 EMS dispatch export, unit (MockTransport) and emulator."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from connectors import university_research_csv as research
from connectors.base import ROW, Parsed, ParseError, Source
from connectors.http import make_client
from emulators.server import Emulator
from emulators.synthetic import BANGKOK, MUNICIPALITIES, Clock
from emulators.university import build, daily_counts

TODAY = date(2026, 11, 26)
TABLE = research.DISPATCHES.name
HEADER = (
    "เลขที่เหตุการณ์,วันเวลารับแจ้ง,วันเวลาถึงที่เกิดเหตุ,เทศบาล,ประเภทเหตุ,ระดับความเร่งด่วน,"
    "ระดับชุดปฏิบัติการ,โรงพยาบาลที่รับผิดชอบ"
)
ROW_1 = "EMS2568-1125-0001,25/11/2568 14:03,25/11/2568 14:15,เทศบาลเมืองศิลา,อุบัติเหตุจราจร,วิกฤต,ALS,โรงพยาบาลศรีนครินทร์"  # noqa: E501
ROW_2 = '"EMS2568-1125-0002",25/11/2568 23:55,26/11/2568 00:09,ทต.บ้านเป็ด,"อื่น ๆ",เร่งด่วน,BLS,"โรงพยาบาลสิรินธร จังหวัดขอนแก่น"'  # noqa: E501


def cp874(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode("cp874")


# --- parse ------------------------------------------------------------------------------------


def test_parse_converts_buddhist_era_local_times_to_utc_and_keeps_thai_text() -> None:
    parsed = research.parse(cp874(HEADER, ROW_1, ROW_2))
    assert parsed.rejects == []
    first, second = parsed.rows[TABLE]
    assert (first[ROW], second[ROW]) == (2, 3)  # line numbers: the header is line 1
    assert first["incident_id"] == "EMS2568-1125-0001"
    assert first["call_at"] == datetime(2025, 11, 25, 7, 3, tzinfo=UTC)
    assert first["scene_arrival_at"] == datetime(2025, 11, 25, 7, 15, tzinfo=UTC)
    assert first["call_time_be"] == "25/11/2568 14:03"
    assert first["municipality_th"] == "เทศบาลเมืองศิลา"
    assert first["priority_th"] == "วิกฤต"
    assert first["hospital_th"] == "โรงพยาบาลศรีนครินทร์"
    # Quoted fields; an arrival after local midnight is still the same UTC evening.
    assert second["incident_id"] == "EMS2568-1125-0002"
    assert second["incident_type_th"] == "อื่น ๆ"
    assert second["scene_arrival_at"] == datetime(2025, 11, 25, 17, 9, tzinfo=UTC)
    assert second["hospital_th"] == "โรงพยาบาลสิรินธร จังหวัดขอนแก่น"


def test_parse_rejects_a_line_that_is_not_cp874_naming_its_column() -> None:
    utf8_line = (
        ROW_2.replace("ทต.บ้านเป็ด", "\x00").encode("cp874").replace(b"\x00", "ทต.บ้านเป็ด".encode())
    )
    content = cp874(HEADER, ROW_1) + utf8_line + b"\r\n" + cp874(ROW_1.replace("0001", "0003"))
    parsed = research.parse(content)
    assert [(r[ROW], r["incident_id"]) for r in parsed.rows[TABLE]] == [
        (2, "EMS2568-1125-0001"),
        (4, "EMS2568-1125-0003"),
    ]
    (reject,) = parsed.rejects
    assert reject.row_number == 3 and reject.table == TABLE
    assert "'municipality_th'" in reject.reason and "cp874" in reject.reason
    assert reject.payload.startswith('"EMS2568-1125-0002"') and "\\x" in reject.payload


def test_parse_rejects_ragged_lines_and_bad_times_with_their_line_numbers() -> None:
    short = "EMS2568-1125-0004,25/11/2568 10:00,เทศบาลเมืองศิลา"
    ce_year = ROW_1.replace("0001", "0005").replace("25/11/2568 14:03", "25/11/2025 14:03")
    bad_date = ROW_1.replace("0001", "0006").replace("25/11/2568 14:15", "31/11/2568 14:15")
    no_key = ROW_1.replace("EMS2568-1125-0001", "")
    parsed = research.parse(cp874(HEADER, short, ROW_1, ce_year, "", bad_date, no_key))
    assert [r[ROW] for r in parsed.rows[TABLE]] == [3]
    reasons = {r.row_number: r.reason for r in parsed.rejects}
    assert set(reasons) == {2, 4, 6, 7}
    assert "3 fields" in reasons[2]
    assert "'call_time_be'" in reasons[4] and "Buddhist" in reasons[4]
    assert "'scene_arrival_time_be'" in reasons[6]
    assert "'incident_id'" in reasons[7]
    assert parsed.received == 5


def test_parse_names_a_missing_header_as_missing_and_types_its_column_null() -> None:
    header = HEADER.replace(",ระดับความเร่งด่วน", "")
    row = ROW_1.replace(",วิกฤต", "")
    parsed = research.parse(cp874(header, row))
    assert parsed.missing == {TABLE: {"priority_th"}} and parsed.rejects == []
    (typed,) = parsed.rows[TABLE]
    assert typed["priority_th"] is None and typed["response_level"] == "ALS"


def test_parse_a_missing_time_or_key_header_keeps_the_rows_for_the_suite_to_judge() -> None:
    header = HEADER.replace("เลขที่เหตุการณ์,วันเวลารับแจ้ง,", "")
    row = ROW_1.replace("EMS2568-1125-0001,25/11/2568 14:03,", "")
    parsed = research.parse(cp874(header, row, row))
    assert parsed.missing == {TABLE: {"incident_id", "call_time_be", "call_at"}}
    assert parsed.rejects == []  # not rejected line by line for the missing key
    assert [(r[ROW], r["incident_id"], r["call_at"]) for r in parsed.rows[TABLE]] == [
        (2, None, None),
        (3, None, None),
    ]
    assert parsed.rows[TABLE][0]["scene_arrival_at"] == datetime(2025, 11, 25, 7, 15, tzinfo=UTC)


def test_parse_raises_on_a_file_that_is_not_cp874() -> None:
    content = f"{HEADER}\r\n{ROW_1}\r\n".encode()
    with pytest.raises(ParseError, match="cp874"):
        research.parse(content)


def test_parse_raises_on_an_empty_export() -> None:
    with pytest.raises(ParseError, match="empty"):
        research.parse(b"")


def test_parse_ignores_an_unknown_extra_column() -> None:
    parsed = research.parse(cp874(HEADER + ",หมายเหตุ", ROW_1 + ",ส่งต่อ"))
    assert len(parsed.rows[TABLE]) == 1 and parsed.rejects == []


def test_extract_reads_the_whole_export_once_without_watermark() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=cp874(HEADER, ROW_1))

    source = Source(
        dataset=research.DATASET, url="http://kku.test/data", options={"path": "/research/ems.csv"}
    )
    with make_client(source, transport=httpx.MockTransport(handler)) as client:
        pages = list(research.extract(client, source, "ignored"))
    assert [str(u) for u in seen] == ["http://kku.test/data/research/ems.csv"]
    (page,) = pages
    assert page.extension == "csv" and page.watermark_after is None
    assert len(research.parse(page.content).rows[TABLE]) == 1


# --- against the emulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    server = build(Clock(TODAY, history_days=30)).start()
    yield server
    server.stop()


@pytest.fixture
def source(emulator: Emulator) -> Iterator[Source]:
    yield Source(dataset=research.DATASET, url=emulator.url, backoff_seconds=0.01)
    emulator.faults.reset()


def export(source: Source) -> tuple[bytes, Parsed]:
    with make_client(source) as client:
        (page,) = list(research.extract(client, source, None))
    return page.content, research.parse(page.content)


def lines_of(content: bytes) -> int:
    return content.count(b"\r\n") - 1  # without the header


@pytest.mark.emulator
def test_emulator_export_is_clean_cp874_with_a_month_of_dispatches(source: Source) -> None:
    content, parsed = export(source)
    rows = parsed.rows[TABLE]
    assert parsed.rejects == [] and parsed.missing == {} and len(rows) == lines_of(content)
    assert [r[ROW] for r in rows] == list(range(2, len(rows) + 2))
    content.decode("cp874")  # the whole file is cp874
    assert content.splitlines()[0].decode("cp874") == HEADER
    assert len({r["incident_id"] for r in rows}) == len(rows)
    names = {m.name_th for m in MUNICIPALITIES} | {m.name_th_variant for m in MUNICIPALITIES}
    assert {r["municipality_th"] for r in rows} <= names
    assert {r["priority_th"] for r in rows} == {"วิกฤต", "เร่งด่วน", "ไม่เร่งด่วน"}
    for row in rows:
        assert row["call_at"].tzinfo == UTC
        assert timedelta(minutes=3) <= row["scene_arrival_at"] - row["call_at"] < timedelta(hours=3)
        local = row["call_at"].astimezone(BANGKOK)
        assert row["call_time_be"] == f"{local:%d/%m}/{local.year + 543} {local:%H:%M}"
        assert TODAY - timedelta(days=30) <= local.date() < TODAY


@pytest.mark.emulator
def test_emulator_dispatches_never_exceed_the_ems_calls_reported(source: Source) -> None:
    _, parsed = export(source)
    name_to_id = {m.name_th: m.municipality_id for m in MUNICIPALITIES}
    name_to_id |= {m.name_th_variant: m.municipality_id for m in MUNICIPALITIES}
    dispatched = Counter(
        (r["call_at"].astimezone(BANGKOK).date(), name_to_id[r["municipality_th"]])
        for r in parsed.rows[TABLE]
    )
    for (day, municipality), count in dispatched.items():
        assert count <= daily_counts(day)["ems-calls", municipality]


@pytest.mark.emulator
def test_emulator_export_is_the_same_when_reread_and_a_day_later(source: Source) -> None:
    content, _ = export(source)
    again, _ = export(source)
    assert again == content  # no watermark: every run gets the full, unchanged export
    tomorrow = build(Clock(TODAY + timedelta(days=1), history_days=31)).start()
    try:
        later, _ = export(Source(dataset=research.DATASET, url=tomorrow.url))
    finally:
        tomorrow.stop()
    assert later.startswith(content)  # past days never change; a new day only adds
    assert len(later) > len(content)


@pytest.mark.emulator
def test_emulator_malformed_and_bad_encoding_rows_become_rejects(
    emulator: Emulator, source: Source
) -> None:
    emulator.faults.data.update(malformed_rows=2, bad_encoding=2)
    content, parsed = export(source)
    reasons = sorted(r.reason for r in parsed.rejects)
    assert len(reasons) == 4
    assert sum("'scene_arrival_time_be'" in r for r in reasons) == 1
    assert sum("'incident_id'" in r for r in reasons) == 1
    assert sum("'hospital_th'" in r and "cp874" in r for r in reasons) == 2
    assert parsed.received == lines_of(content)
    assert all(isinstance(r["call_at"], datetime) for r in parsed.rows[TABLE])


@pytest.mark.emulator
def test_emulator_value_faults_show_in_the_rows(emulator: Emulator, source: Source) -> None:
    emulator.faults.data.update(out_of_range=2, duplicate_rows=3, unknown_codes=2)
    _, parsed = export(source)
    rows = parsed.rows[TABLE]
    assert parsed.rejects == []
    assert len(rows) - len({r["incident_id"] for r in rows}) == 3
    assert sum(r["scene_arrival_at"] < r["call_at"] for r in rows) >= 2
    assert sum(r["priority_th"] == "ด่วนมาก" for r in rows) >= 1
    assert sum(r["municipality_th"] == "เทศบาลตำบลพระลับ" for r in rows) >= 1


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("dropped", "columns"),
    [
        ("priority", {"priority_th"}),
        ("ระดับความเร่งด่วน", {"priority_th"}),
        ("scene_arrival_time", {"scene_arrival_time_be", "scene_arrival_at"}),
        ("incident_id", {"incident_id"}),
    ],
)
def test_emulator_missing_column_is_named_as_missing(
    emulator: Emulator, source: Source, dropped: str, columns: set[str]
) -> None:
    emulator.faults.data["missing_column"] = dropped
    content, parsed = export(source)
    assert parsed.missing == {TABLE: columns} and parsed.rejects == []
    rows = parsed.rows[TABLE]
    assert len(rows) == lines_of(content)
    assert all(row[column] is None for row in rows for column in columns)


@pytest.mark.emulator
def test_emulator_stale_feed_stops_three_days_early(emulator: Emulator, source: Source) -> None:
    emulator.faults.data["stale_feed"] = True
    _, parsed = export(source)
    newest = max(r["call_at"].astimezone(BANGKOK).date() for r in parsed.rows[TABLE])
    assert newest == TODAY - timedelta(days=4)


@pytest.mark.emulator
def test_emulator_http_faults_are_retried(emulator: Emulator, source: Source) -> None:
    emulator.faults.inject("status", count=2, status=502)
    emulator.faults.inject("truncate")
    content, parsed = export(source)
    assert len(parsed.rows[TABLE]) == lines_of(content) and not parsed.rejects
