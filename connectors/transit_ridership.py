"""KKTS ticketing API: daily tap-ins per municipality, route (GTFS ``route_id``) and fare product.

``extract`` lists the municipalities (``options["municipalities"]``, or else the API's
``municipalities_path``), then for each one pages through ``path`` with ``municipality_id``,
``from``, ``to``, ``page`` and ``page_size`` (``source.page_size``), following ``links.next``
(absolute URLs). The window runs from the day after the watermark (first run:
``options["history_days"]`` back, default 365) up to yesterday of ``as_of`` (default today in
Asia/Bangkok); when it is empty nothing is fetched.

Watermark: the last service date fully loaded (ISO date text). A date counts as loaded once it
has been seen for every municipality that returned any data, so a source that lags (or stalls)
keeps its missing days for the next run; the watermark never moves back. Only the run's last
page carries the new watermark; earlier pages carry the old one.

Conversions in ``parse``: ``tap_ins`` given as text with thousands separators ("1,234") become
BIGINT (done by the DATE/BIGINT casts of :class:`connectors.base.Table`). Every typed row keeps
its 1-based position in ``data`` under ``_row``. A field absent from every row of a page (schema
drift) does not fail the parse: its column is named in ``Parsed.missing`` and typed null (a key
column too, instead of rejecting every row), and the suite ``transit_ridership``, which expects
the column to exist, sets the page aside whole.

``check_kind`` refuses a received file that is not one of the API's JSON pages (CSV, a zip, HTML,
a JSON array, a JSON object without a ``data`` list) before it is landed; JSON cut short is let
through, to be landed and rejected by ``parse``.

``FRESHNESS``: the newest ``service_date`` (tap-ins are published per past service day).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx

from connectors import clock
from connectors.base import (
    Page,
    Parsed,
    ParseError,
    Source,
    SourceError,
    Table,
    WrongKindError,
    absent_columns,
    content_start,
    describe_content,
    read_json,
)
from connectors.http import fetch

DATASET = "transit.ridership"
DEFAULT_PATH = "/api/v1/ridership"
DEFAULT_MUNICIPALITIES_PATH = "/api/v1/municipalities"
DEFAULT_HISTORY_DAYS = 365

RIDERSHIP = Table(
    "transit_ridership",
    {
        "service_date": "DATE",
        "municipality_id": "VARCHAR",
        "route_id": "VARCHAR",
        "fare_product": "VARCHAR",
        "tap_ins": "BIGINT",
    },
    ("service_date", "municipality_id", "route_id", "fare_product"),
)
TABLES: tuple[Table, ...] = (RIDERSHIP,)
FRESHNESS: tuple[str, str] | None = (RIDERSHIP.name, "service_date")
TAKES = (
    f"{DATASET} takes a page of the KKTS ticketing API as received: a JSON object with a "
    "'data' list of daily tap-ins"
)


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    options = source.options
    today = _as_of(source)
    last = today - timedelta(days=1)
    first = (
        date.fromisoformat(watermark) + timedelta(days=1)
        if watermark
        else today - timedelta(days=int(options.get("history_days", DEFAULT_HISTORY_DAYS)))
    )
    if first > last:
        return
    newest: dict[str, date] = {}  # municipality -> latest service date it returned
    held: Page | None = None  # each page is held back until we know whether it is the last
    for municipality_id in options.get("municipalities") or _municipalities(client, source):
        url: str | None = options.get("path", DEFAULT_PATH)
        params: dict[str, Any] | None = {
            "municipality_id": municipality_id,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "page": 1,
            "page_size": source.page_size,
        }
        seen: set[str] = set()
        while url:
            page = fetch(client, source, url, params=params, watermark_after=watermark)
            if page.url in seen:
                raise SourceError(f"{DATASET}: links.next loops back to {page.url}")
            seen.add(page.url)
            body = _body(page)
            for row in body.get("data") or []:
                day = _service_date(row)
                if day and day > newest.get(municipality_id, date.min):
                    newest[municipality_id] = day
            if held:
                yield held
            held = page
            url, params = (body.get("links") or {}).get("next"), None
    if held:
        loaded = min(min(newest.values()), last) if newest else None
        if watermark and (loaded is None or loaded.isoformat() < watermark):
            loaded = date.fromisoformat(watermark)
        yield dataclasses.replace(held, watermark_after=loaded.isoformat() if loaded else None)


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """Service days ``start`` to ``end``: ``from``/``to`` pinned by ``as_of`` and the watermark."""
    options = {**source.options, "as_of": (end + timedelta(days=1)).isoformat()}
    return dataclasses.replace(source, options=options), (start - timedelta(days=1)).isoformat()


def _as_of(source: Source) -> date:
    """The run's "today" (Asia/Bangkok); ``options["as_of"]`` pins it for backfills and tests."""
    value = source.options.get("as_of")
    if value:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    return clock.today()


def _municipalities(client: httpx.Client, source: Source) -> list[str]:
    path = source.options.get("municipalities_path", DEFAULT_MUNICIPALITIES_PATH)
    body = _body(fetch(client, source, path))
    try:
        return [str(item["municipality_id"]) for item in body["data"]]
    except (KeyError, TypeError) as error:
        raise SourceError(f"{DATASET}: {path} lists no municipality ids ({error!r})") from None


def _body(page: Page) -> dict[str, Any]:
    """The JSON envelope of a page, needed during extract to follow ``links.next``."""
    try:
        body = read_json(page.content, DATASET)
    except ParseError as error:
        raise SourceError(f"{page.url}: {error}") from None
    if not isinstance(body, dict):
        raise SourceError(f"{DATASET}: {page.url} is not a JSON object")
    return body


def _service_date(row: Any) -> date | None:
    try:
        return date.fromisoformat(str(row["service_date"]))
    except (KeyError, TypeError, ValueError):
        return None


def check_kind(content: bytes) -> None:
    """Refuse (:class:`WrongKindError`, one line) a received file that is no page of the API."""
    start = content_start(content)
    if start.startswith(b"["):
        raise WrongKindError(f"is a JSON array, not a page of the ticketing API; {TAKES}")
    if not start.startswith(b"{"):
        raise WrongKindError(f"is {describe_content(content)}, not a JSON object; {TAKES}")
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # a page cut short or badly encoded: landed, then rejected by parse
    if not isinstance(document.get("data"), list):
        members = ", ".join(repr(key)[:40] for key in list(document)[:5]) or "none"
        raise WrongKindError(
            f"is a JSON object without a 'data' list (members: {members}), not a page of the "
            f"ticketing API; {TAKES}"
        )


def parse(content: bytes) -> Parsed:
    body = read_json(content, DATASET)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise ParseError(f"{DATASET}: response has no 'data' list")
    data = body["data"]
    missing = absent_columns(RIDERSHIP, data)
    parsed = Parsed()
    if missing:  # drift: typed null, a key column too, for the suite to judge
        parsed.missing[RIDERSHIP.name] = missing
    RIDERSHIP.collect(enumerate(data, start=1), parsed)
    return parsed
