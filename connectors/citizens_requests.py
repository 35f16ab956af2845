"""Citizens' complaints ("you-pee", อยู่พี่) from an Open311 GeoReport v2 ``requests.json``.

GeoReport filters ``requests.json`` on ``requested_datetime`` only and caps a window at 90 days, and
a ticket keeps changing after it is filed. So ``extract`` walks date windows of
``options["window_days"]`` (default 30, at most 90) from the watermark minus
``options["lookback_days"]`` (default 14) up to now, re-reading the recent tickets to see their
updates, and pages inside each window with the ``page``/``page_size`` extension until a short page.
The first run starts ``options["history_days"]`` (default 365) back. A ticket whose state changes
more than ``lookback_days`` after it was filed is not seen again: raise ``lookback_days`` if the
channel's tickets take longer than that to close.

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
parser's).

Other options: ``requests_path`` (default ``/open311/v2/requests.json``), ``jurisdiction_id`` and
``status`` (passed on when set).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from connectors.base import (
    BANGKOK,
    Page,
    Parsed,
    ParseError,
    Reject,
    Source,
    SourceError,
    Table,
    absent_columns,
    as_payload,
)
from connectors.http import fetch

DATASET = "citizens.requests"
LOCAL = BANGKOK  # GeoReport wants W3C datetimes with offset
MAX_WINDOW_DAYS = 90  # GeoReport v2: a start_date/end_date range may not span more than 90 days

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
    now = _instant(options["now"]) if options.get("now") else datetime.now(UTC)
    now = now.replace(microsecond=0)  # the W3C datetimes sent are to the second
    window = timedelta(days=min(float(options.get("window_days", 30)), MAX_WINDOW_DAYS))
    if window <= timedelta(0):
        raise ValueError(f"{DATASET}: window_days must be positive")
    held = _instant(watermark) if watermark else None
    if held is not None:
        start = held - timedelta(days=float(options.get("lookback_days", 14)))
    else:
        start = now - timedelta(days=float(options.get("history_days", 365)))
    path = options.get("requests_path", "/open311/v2/requests.json")
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
            count = _count(page.content)
            if count is None:  # land the bytes for the record, without moving the watermark
                yield page
                raise SourceError(
                    f"{DATASET}: GET {page.url} did not answer a JSON array; cannot page on"
                )
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


def parse(content: bytes) -> Parsed:
    """Type one ``requests.json`` page; a row that cannot be typed is a reject naming the column."""
    text = content.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ParseError(
            f"{DATASET}: requests.json is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno} (char {error.pos})"
        ) from None
    if not isinstance(data, list):
        raise ParseError(f"{DATASET}: requests.json is a {type(data).__name__}, not an array")
    parsed = Parsed()
    parsed.rows[REQUESTS.name] = []
    missing = absent_columns(REQUESTS, data)
    if missing:  # drift: typed null, and the suite judges the batch
        parsed.missing[REQUESTS.name] = missing
    good = []
    for number, row in enumerate(data, start=1):
        reason = _unreadable(row)
        if reason:
            parsed.rejects.append(Reject(REQUESTS.name, number, _payload(row), reason))
        else:
            good.append((number, row))
    REQUESTS.collect(good, parsed, payload=_payload)
    parsed.rejects.sort(key=lambda reject: reject.row_number)
    return parsed


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


def _count(content: bytes) -> int | None:
    """How many requests a page holds, or None when it is not a JSON array."""
    try:
        data = json.loads(content.decode("utf-8", errors="replace").removeprefix("\ufeff"))
    except json.JSONDecodeError:
        return None
    return len(data) if isinstance(data, list) else None


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{DATASET}: instant {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _w3c(moment: datetime) -> str:
    return moment.astimezone(LOCAL).isoformat(timespec="seconds")
