"""City LoRaWAN sensor network (KKM smart chip): ChirpStack v4 uplink events, pulled from a relay.

ChirpStack v4 posts each integration event (HTTP integration, JSON marshaler, ``?event=up``,
``join``, ``status``, ...) to the city's relay; we pull them with
``GET <path>?after=<RFC 3339>&limit=N``, events in the order ChirpStack sent them, ``after``
exclusive. Options (``source.options``): ``path`` (default ``/api/v4/uplinks``) and
``future_tolerance_minutes`` (default 15, see below).

Shapes accepted, by content whatever the Content-Type says (a file received by hand too):

- the relay's page ``{"events": [...], "next": <absolute URL or null>}``: ``extract`` follows
  ``next``;
- one event object, as the HTTP integration posts it;
- a JSON list of events;
- NDJSON: one event per line, blank lines allowed (two or more lines that do not parse as one
  JSON document, at least half of them an object each); a line that is not a JSON object is a
  row-level reject under its line number, the other lines load; an empty body (NDJSON with
  nothing newer, or ``204 No Content``) holds no event.

For the bare shapes (no ``next``), ``extract`` asks again with ``after=`` the new watermark until
an answer is empty, brings nothing newer, or (list, NDJSON) holds fewer events than ``limit``:
a relay that answers one event per request is read to the end, one request per event.

Rows are numbered by their position in the response: the index in the list (1-based), the line
number in NDJSON, 1 for a lone object. Only uplinks (``up`` events) are rows: a ``join``,
``status``, ``ack``, ``txack``, ``log``, ``location`` or ``integration`` event in a mixed stream
(told apart by the fields ``integration.proto`` gives each) is skipped with a log line and stays
in the raw file. A document that is no event at all (an object with neither ``events`` nor an
event's ``time``/``deviceInfo``/``deduplicationId``, a list or NDJSON without one event, not
UTF-8, not JSON) raises :class:`ParseError`, one line naming the rule and the fix; a file received
by hand that is plainly not events (not JSON at all: a zip, HTML, CSV, the Protobuf marshaler's
binary; or a whole JSON document with no event) is refused by ``check_kind`` before landing.

One row per uplink event in ``city_sensor_uplinks``, keyed by ``deduplication_id`` (ChirpStack
merges the copies several gateways hear into one event; the relay may still deliver an event twice,
and those duplicates are kept for validation to count). An uplink without what v4 always sends
(``time``, ``deviceInfo.devEui``, ``deduplicationId``) is a row-level reject naming the field.
``fCnt`` may be absent (encoders that leave out zero-valued fields, forwarders that drop it): the
row loads with ``f_cnt`` null. Conversions done here, once:

- ``time`` (RFC 3339 with nanoseconds) → TIMESTAMPTZ in UTC, truncated to microseconds;
- ``deviceInfo.tags`` (all strings in ChirpStack) → ``municipality_id``, ``site_name`` and the
  device location as numbers ``device_latitude``/``device_longitude``;
- decoded ``object`` → ``pm25`` (µg/m³), ``water_level_cm``, ``battery`` (%); ``-1`` (what a broken
  sensor sends) stays ``-1`` and an absent reading is NULL: validation decides what they mean;
- ``rxInfo`` → ``gateway_count``, ``best_rssi`` (dBm) and ``best_snr`` (dB), each the best over the
  gateways that heard the uplink, ``best_gateway_id`` (the one with the best RSSI), and
  ``ns_time``, the earliest ``nsTime``: when the network server received the uplink, by its own
  clock (``time`` comes from a gateway's GPS clock when one heard it, so a wrong gateway clock
  shows as ``time`` far from ``ns_time``);
- ``txInfo.modulation.lora`` → ``frequency_hz``, ``bandwidth_hz``, ``spreading_factor``,
  ``code_rate``.

Nothing is lost: ``data_base64`` is the payload as sent, and ``tags_json``, ``object_json`` and
``rx_info_json`` keep those parts whole. Each row carries its position in the response (``_row``).

Schema drift: a field in :data:`DRIFT_FIELDS` absent from every uplink of a response (of two or
more), or a reading absent from every uplink of its device profile's port, is not a parse error:
the columns it fills are typed null and named in ``Parsed.missing``, and the suite
(``expectations/gx/expectations/city_sensor_uplinks.json``) sets the batch aside.

Watermark: the ``time`` of the newest event received (uplink or not), as UTC RFC 3339 text with
nanoseconds; the next extract asks ``after=`` it. A device or gateway with a wrong clock can stamp
an event years ahead; such an event is loaded (validation flags it) but never moves the
watermark: only times up to ``future_tolerance_minutes`` past the later of the moment the page
was received and the pipeline's now (:func:`connectors.clock.now`) count, otherwise one bad clock
would make every later extract skip the real events.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from connectors import clock
from connectors.base import (
    BANGKOK,
    Page,
    Parsed,
    ParseError,
    RowError,
    Source,
    SourceError,
    Table,
    WrongKindError,
    as_payload,
    content_start,
    describe_content,
)
from connectors.http import fetch

log = logging.getLogger(__name__)

DATASET = "city.sensors"
DEFAULT_PATH = "/api/v4/uplinks"
DEFAULT_FUTURE_TOLERANCE_MINUTES = 15.0

UPLINKS = Table(
    name="city_sensor_uplinks",
    columns={
        "deduplication_id": "VARCHAR",
        "time": "TIMESTAMPTZ",
        "dev_eui": "VARCHAR",
        "device_name": "VARCHAR",
        "device_profile": "VARCHAR",
        "device_profile_id": "VARCHAR",
        "device_class": "VARCHAR",
        "application_id": "VARCHAR",
        "application_name": "VARCHAR",
        "tenant_id": "VARCHAR",
        "tenant_name": "VARCHAR",
        "municipality_id": "VARCHAR",
        "site_name": "VARCHAR",
        "device_latitude": "DOUBLE",
        "device_longitude": "DOUBLE",
        "tags_json": "VARCHAR",
        "dev_addr": "VARCHAR",
        "adr": "BOOLEAN",
        "dr": "BIGINT",
        "f_cnt": "BIGINT",
        "f_port": "BIGINT",
        "confirmed": "BOOLEAN",
        "data_base64": "VARCHAR",
        "pm25": "DOUBLE",
        "water_level_cm": "DOUBLE",
        "battery": "DOUBLE",
        "object_json": "VARCHAR",
        "gateway_count": "BIGINT",
        "best_gateway_id": "VARCHAR",
        "best_rssi": "BIGINT",
        "best_snr": "DOUBLE",
        "rx_info_json": "VARCHAR",
        "ns_time": "TIMESTAMPTZ",
        "frequency_hz": "BIGINT",
        "bandwidth_hz": "BIGINT",
        "spreading_factor": "BIGINT",
        "code_rate": "VARCHAR",
        "region_config_id": "VARCHAR",
    },
    key=("deduplication_id",),
)
TABLES = (UPLINKS,)

# The event time tells how fresh the dataset is.
FRESHNESS: tuple[str, str] | None = (UPLINKS.name, "time")

_DEVICE_COLUMNS = (
    "dev_eui",
    "device_name",
    "device_profile",
    "device_profile_id",
    "device_class",
    "application_id",
    "application_name",
    "tenant_id",
    "tenant_name",
)
_TAG_COLUMNS = ("municipality_id", "site_name", "device_latitude", "device_longitude", "tags_json")
_RX_COLUMNS = (
    "gateway_count",
    "best_gateway_id",
    "best_rssi",
    "best_snr",
    "rx_info_json",
    "ns_time",
)

# Source fields whose absence from every uplink of a page is schema drift, not a bad row, with the
# columns they fill (typed null and reported in ``Parsed.missing`` when the field is gone).
# ``fCnt`` is not one: an uplink without it is valid and loads with ``f_cnt`` null.
DRIFT_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("deduplicationId",): ("deduplication_id",),
    ("time",): ("time",),
    ("deviceInfo",): _DEVICE_COLUMNS + _TAG_COLUMNS,
    ("deviceInfo", "devEui"): ("dev_eui",),
    ("deviceInfo", "deviceName"): ("device_name",),
    ("deviceInfo", "deviceProfileName"): ("device_profile",),
    ("deviceInfo", "tags"): _TAG_COLUMNS,
    ("deviceInfo", "tags", "municipality"): ("municipality_id",),
    ("deviceInfo", "tags", "latitude"): ("device_latitude",),
    ("deviceInfo", "tags", "longitude"): ("device_longitude",),
    ("devAddr",): ("dev_addr",),
    ("fPort",): ("f_port",),
    ("data",): ("data_base64",),
    ("object",): ("pm25", "water_level_cm", "battery", "object_json"),
    ("object", "battery"): ("battery",),
    ("rxInfo",): _RX_COLUMNS,
}
# Each device profile's reading, by the port its codec uses: absent from every event of that port
# (two or more) is drift; absent from a few is a lost reading, which the suite sets aside.
READINGS: dict[int, str] = {2: "pm25", 3: "water_level_cm"}

NS = 1_000_000_000
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    """Pull the events newer than ``watermark``: the relay's ``next`` links, or ``after=`` the
    new watermark for the bare shapes (one object, a list, NDJSON)."""
    tolerance = timedelta(
        minutes=float(
            source.options.get("future_tolerance_minutes", DEFAULT_FUTURE_TOLERANCE_MINUTES)
        )
    )
    path: str = source.options.get("path", DEFAULT_PATH)
    url, params = path, _query(source, watermark)
    visited: set[str] = set()
    while True:
        page = fetch(client, source, url, params=params)
        try:
            stream = _read(page.content)
        except ParseError as error:
            # Land it as received; parse() will report it. Nothing after it can be trusted.
            log.warning("%s: stopping at an unreadable page: %s", DATASET, error)
            yield replace(page, watermark_after=watermark)
            return
        before = watermark
        horizon = max(page.received_at, clock.now()) + tolerance
        watermark = _advance(watermark, [event for _, event in stream.events], horizon)
        yield replace(page, watermark_after=watermark, extension=stream.extension)
        if stream.shape == "relay":
            if not stream.events or not stream.next_url:
                return
            if stream.next_url in visited:
                raise SourceError(
                    f"{DATASET}: the relay sent the same next link twice: {stream.next_url}"
                )
            visited.add(stream.next_url)
            url, params = stream.next_url, None
        elif _last_bare_page(stream, source.page_size, moved=_later(watermark, before)):
            return
        else:
            url, params = path, _query(source, watermark)


def _query(source: Source, watermark: str | None) -> dict[str, Any]:
    return {"limit": source.page_size, **({"after": watermark} if watermark else {})}


def _last_bare_page(stream: _Stream, limit: int, moved: bool) -> bool:
    """Whether an answer without ``next`` ends the read: empty, short, or stuck."""
    if not stream.events:
        return True
    if not moved:
        log.warning(
            "%s: an answer of %d event(s) brought no event time newer than the watermark "
            "(times in the future?): stopping here",
            DATASET,
            len(stream.events),
        )
        return True
    return stream.shape != "object" and len(stream.events) < limit


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """Every uplink since ``start`` at 00:00 Bangkok time (``after=`` one nanosecond before).

    The relay has no upper bound, so the read goes on past ``end`` to the newest event; what
    was already loaded is merged unchanged.
    """
    midnight = datetime.combine(start, time(), BANGKOK)
    return source, _format(int(midnight.timestamp()) * NS - 1)


def check_kind(content: bytes) -> None:
    """Refuse (:class:`WrongKindError`, one line) a received file that is not ChirpStack events:
    not JSON or NDJSON at all (a zip, HTML, CSV, the Protobuf marshaler's binary), or a JSON
    document with no event in it. JSON cut short is let through: landed, then rejected."""
    if not content_start(content).startswith((b"{", b"[")):
        raise WrongKindError(f"is {describe_content(content)}, not JSON; {_TAKES}")
    try:
        text = content.decode("utf-8-sig")
        problem = _not_events(json.loads(text))
    except UnicodeDecodeError:
        return  # landed, then rejected by parse
    except json.JSONDecodeError:
        stream = _ndjson(text)  # None: JSON cut short, landed, then rejected by parse
        problem = _NO_NDJSON_EVENT if stream and not _has_event(stream) else None
    if problem:
        raise WrongKindError(f"is {problem}; {_TAKES}")


def parse(content: bytes) -> Parsed:
    """Type one response: one row per uplink event, rejects naming the column at fault, other
    integration events skipped (logged)."""
    stream = _read(content)
    uplinks = _uplinks(stream.events)
    missing = _drift([event for _, event in uplinks])
    check_encoding = _SURROGATE_ESCAPE.search(content) is not None
    parsed = Parsed(rows={UPLINKS.name: []})
    if missing:
        parsed.missing[UPLINKS.name] = missing
    UPLINKS.collect(
        uplinks,
        parsed,
        convert=lambda event: _record(event, missing, check_encoding),
        payload=_payload,
    )
    return parsed


def _payload(event: Any) -> str:
    """The event as received; a lone surrogate (from a ``\\udXXX`` escape) stays an escape."""
    if isinstance(event, _BadLine):
        return event.text
    return as_payload(event).encode("utf-8", "backslashreplace").decode("utf-8")


# --- reading a response: its shape, its events, and which of them are uplinks ---

_TAKES = (
    f"{DATASET} takes ChirpStack v4 integration events from the JSON marshaler: one event "
    "object, a JSON list of events, NDJSON (one event a line) or the relay's "
    '{"events": [...], "next": ...}'
)
_NO_NDJSON_EVENT = (
    "NDJSON with no ChirpStack v4 event on any line (none has 'time', 'deviceInfo' or "
    "'deduplicationId')"
)
_FIX = "send the events the HTTP integration posts (JSON marshaler, ?event=up) in one of those"
# Every v4 integration event has time and deviceInfo; all but log and txack a deduplicationId.
_EVENT_FIELDS = ("time", "deviceInfo", "deduplicationId")
# Fields only an uplink carries (integration.proto UplinkEvent), and the fields that mark each
# other event type; a join event has nothing an uplink lacks, so it is told by what it lacks.
_UPLINK_ONLY = ("fCnt", "fPort", "data", "rxInfo", "adr", "dr", "confirmed")
_OTHER_EVENTS: dict[str, tuple[str, ...]] = {
    "txack": ("downlinkId", "gatewayId"),
    "ack": ("acknowledged", "queueItemId", "fCntDown"),
    "status": ("margin", "externalPowerSource", "batteryLevelUnavailable", "batteryLevel"),
    "log": ("level", "code", "description"),
    "location": ("location",),
    "integration": ("integrationName", "eventType"),
}


@dataclass(frozen=True)
class _BadLine:
    """An NDJSON line that is not a JSON document: a row-level reject."""

    text: str
    reason: str


@dataclass(frozen=True)
class _Stream:
    """The events of one response, numbered by position, and how they came."""

    shape: str  # relay | object | list | ndjson
    events: list[tuple[int, Any]]
    next_url: str | None = None

    @property
    def extension(self) -> str:
        return "ndjson" if self.shape == "ndjson" else "json"


def _read(content: bytes) -> _Stream:
    """The events of a response in any accepted shape, or :class:`ParseError` (one line)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ParseError(
            f"{DATASET}: the response is not UTF-8 (byte {error.start}), so not the JSON "
            f"marshaler's output (JSON is UTF-8, RFC 8259); {_FIX}"
        ) from None
    if not text.strip():
        return _Stream("ndjson", [])  # no line, no event: an NDJSON answer with nothing new
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        stream = _ndjson(text)
        if stream is None:
            raise ParseError(
                f"{DATASET}: the response is not valid JSON at line {error.lineno} column "
                f"{error.colno} (char {error.pos} of {len(content)} bytes: {error.msg}), so cut "
                f"short or in another format; {_FIX}"
            ) from None
        if not _has_event(stream):
            raise ParseError(f"{DATASET}: the response is {_NO_NDJSON_EVENT}; {_FIX}") from None
        return stream
    problem = _not_events(document)
    if problem:
        raise ParseError(f"{DATASET}: the response is {problem}; {_FIX}")
    if isinstance(document, list):
        return _Stream("list", list(enumerate(document, start=1)))
    if "events" not in document:
        return _Stream("object", [(1, document)])
    next_url = document.get("next")
    if next_url is not None and not isinstance(next_url, str):
        raise ParseError(
            f"{DATASET}: the relay page's 'next' is {next_url!r}, not a URL; it must be the "
            "absolute URL of the following page, or null on the last one"
        )
    return _Stream("relay", list(enumerate(document["events"], start=1)), next_url or None)


def _not_events(document: Any) -> str | None:
    """What a whole JSON document is when it holds no ChirpStack event, else None."""
    if isinstance(document, dict):
        if "events" in document:
            if isinstance(document["events"], list):
                return None
            return "a relay page whose 'events' is not a list"
        if any(field in document for field in _EVENT_FIELDS):
            return None
        return (
            "a JSON object with no 'events' list and none of the fields every ChirpStack v4 "
            "event has ('time', 'deviceInfo', 'deduplicationId')"
        )
    if isinstance(document, list):
        if not document or any(_is_event(item) for item in document):
            return None
        return f"a JSON list of {len(document)} item(s) none of which is a ChirpStack v4 event"
    return f"a JSON {type(document).__name__}, not an event, a list of events or a relay page"


def _is_event(item: Any) -> bool:
    return isinstance(item, dict) and any(field in item for field in _EVENT_FIELDS)


def _ndjson(text: str) -> _Stream | None:
    """NDJSON items numbered by line, or None when the text does not look like NDJSON: two or
    more non-blank lines, at least half of them a JSON object each."""
    numbered: list[tuple[int, Any]] = []
    objects = 0
    for number, line in enumerate(text.split("\n"), start=1):  # LF or CRLF ends a line
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            item = _BadLine(
                line,
                f"line {number}: not valid JSON at column {error.colno}: {error.msg} "
                "(NDJSON holds one whole JSON event per line)",
            )
        objects += isinstance(item, dict)
        numbered.append((number, item))
    if len(numbered) < 2 or 2 * objects < len(numbered):
        return None
    return _Stream("ndjson", numbered)


def _has_event(stream: _Stream) -> bool:
    return any(_is_event(item) for _, item in stream.events)


def _event_type(event: dict[str, Any]) -> str:
    """The integration event type of an event object (``up`` unless it is plainly another)."""
    if any(field in event for field in _UPLINK_ONLY):
        return "up"
    for name, markers in _OTHER_EVENTS.items():
        if any(field in event for field in markers):
            return name
    return "join" if "devAddr" in event else "up"


def _uplinks(events: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """The numbered events that are uplinks (or not objects: rejected as rows); the others are
    skipped, with one log line."""
    uplinks, skipped = [], Counter()
    for number, event in events:
        kind = _event_type(event) if isinstance(event, dict) else "up"
        if kind == "up":
            uplinks.append((number, event))
        else:
            skipped[kind] += 1
    if skipped:
        log.info(
            "%s: skipped %d non-uplink event(s) (%s): not uplinks, kept in the raw file only",
            DATASET,
            sum(skipped.values()),
            ", ".join(f"{kind} {count}" for kind, count in sorted(skipped.items())),
        )
    return uplinks


def _drift(events: list[Any]) -> set[str]:
    """The columns whose source field is absent from every uplink (of two or more): drift."""
    missing: set[str] = set()
    events = [event for event in events if isinstance(event, dict)]
    if len(events) < 2:
        return missing
    for path, columns in DRIFT_FIELDS.items():
        if not any(_has(event, path) for event in events):
            missing.update(columns)
    for port, reading in READINGS.items():
        of_port = [e for e in events if e.get("fPort") == port]
        if len(of_port) >= 2 and not any(_has(e, ("object", reading)) for e in of_port):
            missing.add(reading)
    return missing


def _has(node: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _record(event: Any, missing: set[str], check_encoding: bool) -> dict[str, Any]:
    """Flatten one ChirpStack ``up`` event to the raw table's columns (types are cast later).

    A column in ``missing`` (schema drift) is left null: the suite judges the batch, not the row.
    """
    if isinstance(event, _BadLine):
        raise RowError(event.reason)
    if not isinstance(event, dict):
        raise RowError(f"event: expected a JSON object, got {type(event).__name__}")
    info = _mapping(event.get("deviceInfo"), "dev_eui")
    for column, field, value in (
        ("deduplication_id", "deduplicationId", event.get("deduplicationId")),
        ("time", "time", event.get("time")),
        ("dev_eui", "deviceInfo.devEui", info.get("devEui")),
    ):
        if column not in missing and value in (None, ""):
            raise RowError(
                f"column {column!r}: {field!r} is missing; ChirpStack v4 sends it with every "
                "uplink event (integration.proto UplinkEvent)"
            )
    tags = _mapping(info.get("tags"), "tags_json")
    decoded = _mapping(event.get("object"), "object_json")
    tx = _mapping(event.get("txInfo"), "frequency_hz")
    lora = _mapping(_mapping(tx.get("modulation"), "spreading_factor").get("lora"), "code_rate")
    rx_info = event.get("rxInfo")
    if rx_info is None:
        rx_info = []
    if not isinstance(rx_info, list) or not all(isinstance(rx, dict) for rx in rx_info):
        raise RowError("column 'rx_info_json': expected a list of objects")
    best_gateway_id, best_rssi, best_snr = _best_reception(rx_info)
    ns_times = [_instant(rx.get("nsTime")) for rx in rx_info]
    ns_time = min((t for t in ns_times if t is not None), default=None)
    data = event.get("data")
    if data is not None:
        try:
            base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise RowError(f"column 'data_base64': not base64: {data!r}") from None
    record = {
        "deduplication_id": event.get("deduplicationId"),
        "time": event.get("time"),
        "dev_eui": info.get("devEui"),
        "device_name": info.get("deviceName"),
        "device_profile": info.get("deviceProfileName"),
        "device_profile_id": info.get("deviceProfileId"),
        "device_class": info.get("deviceClassEnabled"),
        "application_id": info.get("applicationId"),
        "application_name": info.get("applicationName"),
        "tenant_id": info.get("tenantId"),
        "tenant_name": info.get("tenantName"),
        "municipality_id": tags.get("municipality"),
        "site_name": tags.get("site"),
        "device_latitude": tags.get("latitude"),
        "device_longitude": tags.get("longitude"),
        "tags_json": _json(tags),
        "dev_addr": event.get("devAddr"),
        "adr": event.get("adr"),
        "dr": event.get("dr"),
        "f_cnt": event.get("fCnt"),
        "f_port": event.get("fPort"),
        "confirmed": event.get("confirmed"),
        "data_base64": data,
        "pm25": decoded.get("pm25"),
        "water_level_cm": decoded.get("water_level_cm"),
        "battery": decoded.get("battery"),
        "object_json": _json(decoded),
        "gateway_count": len(rx_info),
        "best_gateway_id": best_gateway_id,
        "best_rssi": best_rssi,
        "best_snr": best_snr,
        "rx_info_json": _json(rx_info),
        "ns_time": None if ns_time is None else _format(ns_time),
        "frequency_hz": tx.get("frequency"),
        "bandwidth_hz": lora.get("bandwidth"),
        "spreading_factor": lora.get("spreadingFactor"),
        "code_rate": lora.get("codeRate"),
        "region_config_id": event.get("regionConfigId"),
    }
    for column in missing:
        record[column] = None
    if check_encoding:
        _check_encoding(record)
    return record


def _json(value: Any) -> str | None:
    """A nested part kept whole, as compact JSON text in the source's own key order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else None


def _mapping(value: Any, column: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowError(f"column {column!r}: expected a JSON object, got {value!r}")
    return value


def _best_reception(rx_info: list[dict[str, Any]]) -> tuple[Any, int | None, float | None]:
    """(gateway with the best RSSI, best RSSI, best SNR) over the gateways that heard it."""
    best_gateway, best_rssi, best_snr = None, None, None
    for rx in rx_info:
        rssi, snr = rx.get("rssi"), rx.get("snr")
        try:
            rssi = None if rssi is None else int(rssi)
        except (TypeError, ValueError):
            raise RowError(f"column 'best_rssi': expected an integer, got {rssi!r}") from None
        try:
            snr = None if snr is None else float(snr)
        except (TypeError, ValueError):
            raise RowError(f"column 'best_snr': expected a number, got {snr!r}") from None
        if rssi is not None and (best_rssi is None or rssi > best_rssi):
            best_gateway, best_rssi = rx.get("gatewayId"), rssi
        if snr is not None and (best_snr is None or snr > best_snr):
            best_snr = snr
    return best_gateway, best_rssi, best_snr


def _check_encoding(row: Mapping[str, Any]) -> None:
    for column, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise RowError(f"column {column!r}: bad encoding (lone surrogate)") from None


# --- the watermark: event times as integer nanoseconds, so ChirpStack's precision is kept ---


def _advance(watermark: str | None, events: list[Any], horizon: datetime) -> str | None:
    """The newest event time not beyond ``horizon``, if newer than ``watermark``."""
    limit = int(horizon.timestamp()) * NS
    newest = _instant(watermark) if watermark else None
    for event in events:
        moment = _instant(event.get("time")) if isinstance(event, dict) else None
        if moment is not None and moment <= limit and (newest is None or moment > newest):
            newest = moment
    if newest is None:
        return watermark
    return _format(newest)


def _later(watermark: str | None, before: str | None) -> bool:
    """Whether ``watermark`` names a later instant than ``before`` (text may differ for one)."""
    if watermark is None:
        return False
    return before is None or (_instant(watermark) or 0) > (_instant(before) or 0)


def _instant(text: Any) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time, or None if it is not one."""
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    whole, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(whole + ("+00:00" if offset in "Zz" else offset))
    except ValueError:
        return None
    return int(moment.timestamp()) * NS + int((fraction or "").ljust(9, "0"))


def _format(ns: int) -> str:
    seconds, fraction = divmod(ns, NS)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"
