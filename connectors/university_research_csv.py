"""Khon Kaen University legacy research export of EMS dispatches (university.research_csv; HE01).

``extract`` reads the whole export, ``GET <path>`` (option ``path``, default
``/exports/ems-dispatch.csv``), every run: one Page, no watermark (``watermark_after`` is None).

The export is a legacy file: cp874 (Windows Thai, a superset of TIS-620), comma separated, one
record per line (a record with an embedded line break is not supported and shows up as lines with
the wrong number of fields), a header of Thai column names, local times written
``dd/mm/yyyy HH:MM`` with Buddhist-era years. ``parse`` does, once:

- decodes each line as cp874; a line that does not decode is a reject naming the column where the
  bad bytes are (the payload shows them as ``\\xNN``);
- maps the Thai headers to English snake_case columns (an unknown extra header is ignored with a
  warning: the raw file keeps it). A missing header is schema drift: it is logged, its columns
  (with the UTC column made from a time) are named in ``parsed.missing`` and typed null in every
  row (a missing ``incident_id`` too, instead of rejecting every line for its missing key), so
  the suite's ``expect_column_to_exist`` sets the export aside whole;
- converts the Buddhist-era local times to UTC (year - 543, then from +07:00), keeping the text as
  written in ``call_time_be`` / ``scene_arrival_time_be``; a year that is not Buddhist era (below
  2400) is a reject, as the conversion would be ambiguous;
- keeps the Thai text (municipality, incident type, priority, level, hospital) as written.

A line with the wrong number of fields is a reject; ``row_number`` (and ``_row`` of a typed row)
is the line number in the file (the header is line 1). An empty or undecodable header line is a
:class:`ParseError` (a UTF-8 export is CSV text of the right kind, so it is landed, but its Thai
header does not decode as cp874: it is rejected whole, asking for the cp874 export).

``check_kind`` refuses, before landing, a received file that is plainly no CSV text export: a zip,
HTML, JSON, XML, binary data, or text whose first line has no comma. Text in cp874 (TIS-620) or
UTF-8 passes.

``FRESHNESS``: the newest ``call_at``.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from connectors.base import (
    BANGKOK,
    BE_OFFSET,
    Page,
    Parsed,
    ParseError,
    Reject,
    RowError,
    Source,
    Table,
    WrongKindError,
    content_start,
    describe_content,
)
from connectors.http import fetch

log = logging.getLogger(__name__)

DATASET = "university.research_csv"
EXPORT_PATH = "/exports/ems-dispatch.csv"
ENCODING = "cp874"

DISPATCHES = Table(
    name="university_ems_dispatches",
    columns={
        "incident_id": "VARCHAR",
        "call_at": "TIMESTAMPTZ",
        "scene_arrival_at": "TIMESTAMPTZ",
        "call_time_be": "VARCHAR",
        "scene_arrival_time_be": "VARCHAR",
        "municipality_th": "VARCHAR",
        "incident_type_th": "VARCHAR",
        "priority_th": "VARCHAR",
        "response_level": "VARCHAR",
        "hospital_th": "VARCHAR",
    },
    key=("incident_id",),
)
TABLES = (DISPATCHES,)
SNAPSHOT = True  # each export is the whole register
FRESHNESS: tuple[str, str] | None = (DISPATCHES.name, "call_at")

# Thai header as the legacy system writes it -> the field it holds.
HEADERS = {
    "เลขที่เหตุการณ์": "incident_id",
    "วันเวลารับแจ้ง": "call_time_be",
    "วันเวลาถึงที่เกิดเหตุ": "scene_arrival_time_be",
    "เทศบาล": "municipality_th",
    "ประเภทเหตุ": "incident_type_th",
    "ระดับความเร่งด่วน": "priority_th",
    "ระดับชุดปฏิบัติการ": "response_level",
    "โรงพยาบาลที่รับผิดชอบ": "hospital_th",
}
# Timestamp text column -> the UTC column it becomes.
_TIMES = {"call_time_be": "call_at", "scene_arrival_time_be": "scene_arrival_at"}
_LOCAL_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) +(\d{1,2}):(\d{2})(?::(\d{2}))?")


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    """The full export, as one Page; ``watermark`` is ignored (the dataset has none)."""
    path = source.options.get("path", EXPORT_PATH)
    yield fetch(client, source, path, extension="csv", watermark_after=None)


def check_kind(content: bytes) -> None:
    """Refuse what is plainly not a CSV text export (cp874 or UTF-8) before it is landed."""
    start = content_start(content)
    first = start.split(b"\n", 1)[0].rstrip(b"\r")
    described = describe_content(content)
    if described in {"a zip archive", "an HTML page"} or not first:
        what = described
    elif start[:1] in {b"{", b"["}:
        what = "JSON"
    elif start[:1] == b"<":
        what = "XML"
    elif not _is_text(first):
        what = described if described.startswith("binary") else "not text in cp874 or UTF-8"
    elif b"," not in first:
        what = f"{described} with no comma in its first line"
    else:
        return
    raise WrongKindError(
        f"is {what}, not a CSV export; {DATASET} takes the EMS dispatch export: comma-separated "
        "text in cp874 (TIS-620) or UTF-8 with a header line of Thai column names"
    )


def _is_text(line: bytes) -> bool:
    """Whether ``line`` (perhaps cut short) decodes as UTF-8 or cp874 to printable text."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(line, final=False)
    except UnicodeDecodeError:
        text = _decode(line)
    return text is not None and all(char.isprintable() or char == "\t" for char in text)


def parse(content: bytes) -> Parsed:
    """The cp874 export -> typed dispatch rows, with undecodable or ragged lines as rejects."""
    lines = content.split(b"\n")
    header_line = _decode(lines[0].rstrip(b"\r")) if lines else ""
    if header_line is None or not header_line.strip():
        problem = (
            "does not decode as cp874: the research export is cp874 (Windows-874, a superset of "
            "TIS-620); export it again in cp874"
            if header_line is None
            else "is empty: the export starts with a header line of Thai column names; send the "
            "whole export"
        )
        raise ParseError(f"{DATASET}: line 1 (the header) {problem}")
    header = [name.strip() for name in next(csv.reader([header_line]))]
    unknown = [name for name in header if name not in HEADERS]
    if unknown:
        log.warning("%s: ignoring unknown column(s) %s", DATASET, unknown)
    parsed = Parsed(rows={DISPATCHES.name: []})
    absent = {field: thai for thai, field in HEADERS.items() if thai not in header}
    if absent:
        log.warning(
            "%s: header line lacks column(s) %s: schema drift",
            DATASET,
            ", ".join(f"{thai!r} ({field})" for field, thai in absent.items()),
        )
        missing = set(absent) | {_TIMES[f] for f in absent if f in _TIMES}
        parsed.missing[DISPATCHES.name] = missing
    records: list[tuple[int, str, str]] = []
    for number, raw in enumerate(lines[1:], start=2):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        text = _decode(raw)
        if text is None:
            payload = raw.decode(ENCODING, errors="backslashreplace")
            reason = _encoding_reason(raw, header)
            parsed.rejects.append(Reject(DISPATCHES.name, number, payload, reason))
        else:
            records.append((number, text))
    DISPATCHES.collect(
        records, parsed, convert=lambda line: _record(header, line), payload=lambda line: line
    )
    return parsed


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode(ENCODING)
    except UnicodeDecodeError:
        return None


def _encoding_reason(raw: bytes, header: list[str]) -> str:
    """Name the column holding the first byte that is not cp874."""
    text = raw.decode(ENCODING, errors="surrogateescape")
    bad = next(i for i, char in enumerate(text) if "\udc80" <= char <= "\udcff")
    index = len(next(csv.reader([text[:bad]]), [""])) - 1 if bad else 0
    column = HEADERS.get(header[index], header[index]) if index < len(header) else "?"
    byte = ord(text[bad]) - 0xDC00
    return f"column {column!r}: byte 0x{byte:02x} is not valid cp874"


def _record(header: list[str], line: str) -> dict[str, Any]:
    """One decoded line -> the table's columns; RowError for a ragged line or a bad time."""
    fields = next(csv.reader([line]))
    if len(fields) != len(header):
        raise RowError(f"line has {len(fields)} fields, the header has {len(header)}")
    record: dict[str, Any] = {}
    for name, value in zip(header, fields, strict=True):
        if name in HEADERS:
            record[HEADERS[name]] = value.strip()
    for text_column, utc_column in _TIMES.items():
        record[utc_column] = _be_local_time(record.get(text_column, ""), text_column)
    return record


def _be_local_time(text: str, column: str) -> datetime | None:
    """``25/11/2568 14:03`` (local, Buddhist era) -> aware datetime (Table.typed makes it UTC)."""
    if not text:
        return None
    match = _LOCAL_TIME.fullmatch(text)
    if not match:
        raise RowError(
            f"column {column!r}: expected 'dd/mm/yyyy HH:MM' (Buddhist era), got {text!r}"
        )
    day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
    if year < 2400:
        raise RowError(f"column {column!r}: year {year} in {text!r} is not a Buddhist-era year")
    try:
        return datetime(year - BE_OFFSET, month, day, hour, minute, second, tzinfo=BANGKOK)
    except ValueError as error:
        raise RowError(f"column {column!r}: {error} in {text!r}") from None
