"""Citizens' complaints ("you-pee", อยู่พี่) from an Open311 GeoReport v2 ``requests`` resource.

GeoReport filters ``requests`` on ``requested_datetime`` only and caps a window at 90 days, and
a ticket keeps changing after it is filed. So ``extract`` walks date windows of
``options["window_days"]`` (default 30, at most 90) from the watermark minus
``options["lookback_days"]`` (default 14) up to now, re-reading the recent tickets to see their
updates, and pages inside each window with the ``page``/``page_size`` extension until a short page.
The first run starts ``options["history_days"]`` (default 365) back. A ticket whose state changes
more than ``lookback_days`` after it was filed is not seen again: raise ``lookback_days`` if the
channel's tickets take longer than that to close.

Formats: GeoReport v2 serves each resource as XML (the format every server must offer) and, at
its discretion, JSON, chosen by the resource's extension. ``options["format"]`` (``json``, the
default, or ``xml``) picks ``requests.json`` or ``requests.xml``; ``parse`` reads whichever the
page holds, whatever was asked (a server may only speak XML):

- JSON: an array of request objects; ``[]`` is an empty window;
- XML: ``<service_requests>`` holding one ``<request>`` per ticket, its fields as child elements
  named like the JSON keys (an empty element is a null); ``<service_requests/>`` is an empty
  window. A child that is not a ``<request>`` is a row reject. XML must be UTF-8 (GeoReport
  v2, "Encoding") and may not declare a DOCTYPE or entities (GeoReport uses none; refusing them
  closes entity-expansion attacks): either is a :class:`ParseError`.

In both forms the rows are numbered in document order from 1. A GeoReport error answer (JSON
``[{"code": .., "description": ..}]``, XML ``<errors><error>..</error></errors>``) is a
:class:`ParseError` quoting the code and description; ``extract`` lands such a page and stops.

Watermark: the end of the last window loaded, an ISO instant in UTC. A page that closes a window
carries that window's end; a page inside a window carries the watermark that held before it
(``None`` on a first run), so a run cut short resumes at the unfinished window. The watermark never
moves back. ``options["now"]`` (an ISO instant) stands in for the clock, for backfills and tests.

Raw table ``citizens_service_requests``, key (``service_request_id``, ``updated_datetime``): every
state of a ticket that a run observes is kept. Every typed row carries its position in the page
under ``_row``. A field absent from every request of a page (schema drift) does not fail the parse:
it is named in ``Parsed.missing`` and the rows are typed with it null (a drifted key field too), so
the suite ``citizens_service_requests`` sets the page aside whole. ``FRESHNESS``: the newest
``requested_datetime`` says how fresh the channel is (when the last complaint came in).
Conversions done once in ``parse``: the W3C datetimes (+07:00) become UTC ``TIMESTAMPTZ``;
everything else keeps the source's field names and text, the free-text ``description`` included
(it may hold names, phone numbers and national IDs: masking is a later, deliberate step, not the
parser's). A rejected XML request is kept as its ``<request>`` element, as received.

``check_kind`` refuses a received file that is neither a JSON array nor GeoReport XML
(``<service_requests>`` or ``<errors>``) before it is landed.

Other options: ``requests_path`` (default ``/open311/v2/requests.<format>``), ``jurisdiction_id``
and ``status`` (passed on when set).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from xml.parsers import expat

import httpx

from connectors import clock
from connectors.base import (
    BANGKOK,
    Page,
    Parsed,
    ParseError,
    Reject,
    Source,
    SourceError,
    Table,
    WrongKindError,
    absent_columns,
    as_payload,
    content_start,
    describe_content,
)
from connectors.http import fetch

DATASET = "citizens.requests"
LOCAL = BANGKOK  # GeoReport wants W3C datetimes with offset
MAX_WINDOW_DAYS = 90  # GeoReport v2: a start_date/end_date range may not span more than 90 days
FORMATS = ("json", "xml")  # GeoReport v2 formats, chosen by the resource's extension
TAKES = (
    f"{DATASET} takes Open311 GeoReport v2 requests.json (a JSON array of requests) or "
    "requests.xml (<service_requests> of <request>)"
)

REQUESTS = Table(
    name="citizens_service_requests",
    columns={
        "service_request_id": "VARCHAR",
        "status": "VARCHAR",
        "status_notes": "VARCHAR",
        "service_name": "VARCHAR",
        "service_code": "VARCHAR",
        "description": "VARCHAR",
        "agency_responsible": "VARCHAR",
        "service_notice": "VARCHAR",
        "requested_datetime": "TIMESTAMPTZ",
        "updated_datetime": "TIMESTAMPTZ",
        "expected_datetime": "TIMESTAMPTZ",
        "address": "VARCHAR",
        "address_id": "VARCHAR",
        "zipcode": "VARCHAR",
        "lat": "DOUBLE",
        "long": "DOUBLE",
        "media_url": "VARCHAR",
    },
    key=("service_request_id", "updated_datetime"),
)
TABLES = (REQUESTS,)
FRESHNESS: tuple[str, str] | None = (REQUESTS.name, "requested_datetime")


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    """One page per response, window after window, from the watermark (minus lookback) to now."""
    options = source.options
    now = _instant(options["now"]) if options.get("now") else clock.now()
    now = now.replace(microsecond=0)  # the W3C datetimes sent are to the second
    window = timedelta(days=min(float(options.get("window_days", 30)), MAX_WINDOW_DAYS))
    if window <= timedelta(0):
        raise ValueError(f"{DATASET}: window_days must be positive")
    held = _instant(watermark) if watermark else None
    if held is not None:
        start = held - timedelta(days=float(options.get("lookback_days", 14)))
    else:
        start = now - timedelta(days=float(options.get("history_days", 365)))
    form = str(options.get("format", "json")).lower()
    if form not in FORMATS:
        raise ValueError(f"{DATASET}: format must be json or xml, got {form!r}")
    path = options.get("requests_path", f"/open311/v2/requests.{form}")
    extra = {k: options[k] for k in ("jurisdiction_id", "status") if options.get(k)}
    while start < now:
        end = min(start + window, now)
        done = end if held is None else max(held, end)
        number = 1
        while True:
            params = {
                **extra,
                "start_date": _w3c(start),
                "end_date": _w3c(end),
                "page": number,
                "page_size": source.page_size,
            }
            page = fetch(client, source, path, params=params, watermark_after=_iso(held))
            page = dataclasses.replace(page, extension=_format_of(page.content))
            try:
                count = len(_records(page.content))
            except ParseError as error:  # land the bytes for the record, watermark unmoved
                yield page
                raise SourceError(
                    f"{DATASET}: GET {page.url} did not answer a request list (a JSON array or "
                    f"<service_requests>), cannot page on: {error}"
                ) from None
            if count < source.page_size:  # a short page closes the window
                yield dataclasses.replace(page, watermark_after=_iso(done))
                break
            yield page
            number += 1
        held, start = done, end


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """Re-read the tickets filed from ``start`` to ``end`` (Bangkok days), as they stand now.

    Windows run from ``start`` at 00:00 to the day after ``end`` at 00:00, Bangkok time (the
    watermark, with no look-back, and ``now``); each ticket comes with its current state.
    """
    first = datetime.combine(start, time(), LOCAL)
    after_last = datetime.combine(end + timedelta(days=1), time(), LOCAL)
    options = {**source.options, "lookback_days": 0, "now": _iso(after_last)}
    return dataclasses.replace(source, options=options), _iso(first)


def _payload(row: Any) -> str:
    """The row as received, storable: a lone surrogate (a ``\\udXXX`` escape) becomes ``?``."""
    return as_payload(row).encode("utf-8", errors="replace").decode("utf-8")


def check_kind(content: bytes) -> None:
    """Refuse a received file that is neither a JSON array nor GeoReport XML, before landing."""
    start = content_start(content)
    described = describe_content(content)
    if start.startswith(b"["):
        return
    if start.startswith(b"<") and described != "an HTML page":
        root = _XML_ROOT.search(start)
        if root is None or root.group(1) in (b"service_requests", b"errors"):
            return
        described = f"XML with root element <{root.group(1).decode(errors='replace')}>"
    elif start.startswith(b"{"):
        described = "a JSON object"
    raise WrongKindError(f"is {described}, not an Open311 request list; {TAKES}")


def parse(content: bytes) -> Parsed:
    """Type one ``requests`` page (JSON or XML); a row that cannot be typed is a reject naming
    the column, numbered by its position in the document."""
    records = _records(content)
    parsed = Parsed()
    parsed.rows[REQUESTS.name] = []
    missing = absent_columns(REQUESTS, [record.value for record in records])
    if missing:  # drift: typed null, and the suite judges the batch
        parsed.missing[REQUESTS.name] = missing
    good = []
    for number, record in enumerate(records, start=1):
        if record.problem:
            parsed.rejects.append(Reject(REQUESTS.name, number, record.payload, record.problem))
        else:
            good.append((number, record))
    REQUESTS.collect(good, parsed, convert=_fields, payload=_received)
    parsed.rejects.sort(key=lambda reject: reject.row_number)
    return parsed


@dataclass(frozen=True)
class _Record:
    """One element of the request list: its fields (or what stood there instead), the text it
    came as when XML, and why it cannot be typed at all (``None`` when it can)."""

    value: Any
    xml: str | None = None
    problem: str | None = None

    @property
    def payload(self) -> str:
        return self.xml if self.xml is not None else _payload(self.value)


def _fields(record: _Record) -> Any:
    return record.value


def _received(record: _Record) -> str:
    return record.payload


def _format_of(content: bytes) -> str:
    return "xml" if content_start(content).startswith(b"<") else "json"


def _records(content: bytes) -> list[_Record]:
    """The requests of a page in document order; ParseError for a page that is no request list
    (not JSON or XML, a GeoReport error answer, XML the rules refuse)."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError(
            f"{DATASET}: the page is UTF-16; GeoReport v2 requires UTF-8 ('Encoding'): "
            "re-encode it as UTF-8"
        )
    if _format_of(content) == "xml":
        return _xml_records(content)
    return _json_records(content)


def _json_records(content: bytes) -> list[_Record]:
    text = content.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(
            f"{DATASET}: requests.json is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno} (char {error.pos})"
        ) from None
    if not isinstance(data, list):
        raise ParseError(
            f"{DATASET}: requests.json is a {type(data).__name__}, not an array (GeoReport v2 "
            "'GET Service Requests' answers an array of requests); send the array"
        )
    if data and all(_is_error(row) for row in data):
        raise ParseError(_error_answer([(row.get("code"), row.get("description")) for row in data]))
    return [_Record(row, problem=_unreadable(row)) for row in data]


def _is_error(row: Any) -> bool:
    """A GeoReport error object: ``code`` and ``description``, nothing else."""
    return isinstance(row, dict) and set(row) == {"code", "description"}


def _error_answer(errors: list[tuple[Any, Any]]) -> str:
    said = "; ".join(f"{code} {description}".strip() for code, description in errors)
    said = " ".join(said.split())  # one line, whatever the server wrote
    return (
        f"{DATASET}: the server answered a GeoReport error, not requests (Open311 GeoReport v2, "
        f"'Errors'): {said}; fix what it names and fetch again"
    )


# --- the XML form -------------------------------------------------------------------------------

_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")  # the first element (not <?..?> nor <!..>)
_UTF8 = {"utf-8", "utf8"}


class _Refused(Exception):
    """XML that GeoReport does not allow, raised from inside the expat handlers."""


def _xml_records(content: bytes) -> list[_Record]:
    """``<service_requests>`` -> one record per child element, in document order."""
    reader = _XmlReader(content)
    try:
        reader.parser.Parse(content, True)
    except _Refused as refusal:
        raise ParseError(f"{DATASET}: {refusal}") from None
    except expat.ExpatError as error:
        raise ParseError(
            f"{DATASET}: requests.xml is not well-formed XML (XML 1.0): "
            f"{expat.ErrorString(error.code)} at line {error.lineno} column {error.offset}; "
            "resend the complete document"
        ) from None
    if reader.root == "errors":
        errors = [(r.value.get("code"), r.value.get("description")) for r in reader.records]
        raise ParseError(_error_answer(errors or [("", "no <error> given")]))
    return reader.records


class _XmlReader:
    """Expat handlers that collect the children of the root element as records.

    The root must be ``<service_requests>`` (or ``<errors>``); each child element is a record,
    its child elements the fields (text; a field with elements inside becomes an object of their
    texts), and the record keeps its markup as received for the quarantine payload.
    """

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.records: list[_Record] = []
        self.root: str | None = None
        self._path: list[str] = []
        self._start = 0
        self._fields: dict[str, Any] = {}
        self._text: list[str] = []
        self._inner: dict[str, str] = {}
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.XmlDeclHandler = self._declaration
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.StartElementHandler = self._open
        parser.EndElementHandler = self._close
        parser.CharacterDataHandler = self._characters
        self.parser = parser

    def _declaration(self, version: str, encoding: str | None, standalone: int) -> None:
        if encoding and encoding.lower() not in _UTF8:
            raise _Refused(
                f"requests.xml declares encoding {encoding!r}; GeoReport v2 requires UTF-8 "
                "('Encoding'): re-encode it as UTF-8"
            )

    def _doctype(self, *_: Any) -> None:
        raise _Refused(
            "requests.xml declares a DOCTYPE: GeoReport v2 XML uses no DTD or entities, and they "
            "are refused to close entity-expansion attacks; send it without the <!DOCTYPE>"
        )

    def _entity(self, *_: Any) -> None:
        raise _Refused(
            "requests.xml declares an ENTITY: GeoReport v2 XML uses none, and they are refused to "
            "close entity-expansion attacks; send it without entity declarations"
        )

    def _open(self, name: str, attributes: dict[str, str]) -> None:
        depth = len(self._path)
        if depth == 0:
            if name not in {"service_requests", "errors"}:
                raise _Refused(
                    f"requests.xml has root element <{name}>, not <service_requests> (GeoReport "
                    "v2 'GET Service Requests', XML); send the request list"
                )
            self.root = name
        elif depth == 1:
            self._start = self.parser.CurrentByteIndex
            self._fields = {}
        elif depth == 2:
            self._text, self._inner = [], {}
        elif depth == 3:
            self._inner[name] = ""
        self._path.append(name)

    def _characters(self, data: str) -> None:
        if len(self._path) == 3:
            self._text.append(data)
        elif len(self._path) >= 4:
            self._inner[self._path[3]] += data

    def _close(self, name: str) -> None:
        self._path.pop()
        depth = len(self._path)
        if depth == 2:
            text = "".join(self._text)
            self._fields[name] = dict(self._inner) if self._inner else (text or None)
        elif depth == 1:
            end = self.content.index(b">", self.parser.CurrentByteIndex) + 1
            xml = self.content[self._start : end].decode("utf-8", errors="replace")
            expected = "request" if self.root == "service_requests" else "error"
            if name == expected:
                self.records.append(_Record(self._fields, xml))
            else:
                problem = f"element <{name}> is not a <{expected}> (GeoReport v2 <{self.root}>)"
                self.records.append(_Record(xml, xml, problem))


# --- rows ------------------------------------------------------------------------------------


def _unreadable(row: Any) -> str | None:
    """Why a row cannot even be offered to the typer: not an object, or undecodable bytes."""
    if not isinstance(row, dict):
        return f"row is a {type(row).__name__}, not a JSON object"
    for column, value in row.items():
        if isinstance(value, str) and _has_surrogates(value):
            return f"column {column!r}: bad encoding (not UTF-8)"
    return None


_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape


def _has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{DATASET}: instant {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _w3c(moment: datetime) -> str:
    return moment.astimezone(LOCAL).isoformat(timespec="seconds")
