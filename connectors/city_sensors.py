"""City LoRaWAN sensor network (KKM smart chip): ChirpStack v4 uplink events, pulled from a relay.

ChirpStack v4 pushes ``up`` events (HTTP integration) to the city's relay; we pull them with
``GET <path>?after=<RFC 3339>&limit=N`` → ``{"events": [...], "next": <absolute URL or null>}``,
events in the order ChirpStack received them, ``after`` exclusive. Options (``source.options``):
``path`` (default ``/api/v4/uplinks``) and ``future_tolerance_minutes`` (default 15, see below).

One row per uplink event in ``city_sensor_uplinks``, keyed by ``deduplication_id`` (ChirpStack
merges the copies several gateways hear into one event; the relay may still deliver an event twice,
and those duplicates are kept for validation to count). Conversions done here, once:

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

Schema drift: a field in :data:`DRIFT_FIELDS` absent from every event of a response (of two or
more), or a reading absent from every event of its device profile's port, is not a parse error:
the columns it fills are typed null and named in ``Parsed.missing``, and the suite
(``expectations/gx/expectations/city_sensor_uplinks.json``) sets the batch aside.

Watermark: the ``time`` of the newest event loaded, as UTC RFC 3339 text with nanoseconds; the next
extract asks ``after=`` it. A device or gateway with a wrong clock can stamp an event years ahead;
such an event is loaded (validation flags it) but never moves the watermark: only times up to
the moment the page was received plus ``future_tolerance_minutes`` count, otherwise one bad clock
would make every later extract skip the real events.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from connectors.base import (
    BANGKOK,
    Page,
    Parsed,
    ParseError,
    RowError,
    Source,
    SourceError,
    Table,
    as_payload,
    read_json,
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

# Source fields whose absence from every event of a page is schema drift, not a bad row, with the
# columns they fill (typed null and reported in ``Parsed.missing`` when the field is gone).
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
    ("fCnt",): ("f_cnt",),
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
    """Pull the events newer than ``watermark``, following the relay's ``next`` links."""
    tolerance = timedelta(
        minutes=float(
            source.options.get("future_tolerance_minutes", DEFAULT_FUTURE_TOLERANCE_MINUTES)
        )
    )
    url: str = source.options.get("path", DEFAULT_PATH)
    params: dict[str, Any] | None = {"limit": source.page_size}
    if watermark:
        params["after"] = watermark
    visited: set[str] = set()
    while True:
        page = fetch(client, source, url, params=params)
        try:
            events, next_url = _events_and_next(page.content)
        except ParseError as error:
            # Land it as received; parse() will report it. Nothing after it can be trusted.
            log.warning("%s: stopping at an unreadable page: %s", DATASET, error)
            yield replace(page, watermark_after=watermark)
            return
        watermark = _advance(watermark, events, page.received_at + tolerance)
        yield replace(page, watermark_after=watermark)
        if not events or not next_url:
            return
        if next_url in visited:
            raise SourceError(f"{DATASET}: the relay sent the same next link twice: {next_url}")
        visited.add(next_url)
        url, params = next_url, None


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """Every uplink since ``start`` at 00:00 Bangkok time (``after=`` one nanosecond before).

    The relay has no upper bound, so the read goes on past ``end`` to the newest event; what
    was already loaded is merged unchanged.
    """
    midnight = datetime.combine(start, time(), BANGKOK)
    return source, _format(int(midnight.timestamp()) * NS - 1)


def parse(content: bytes) -> Parsed:
    """Type one relay response: one row per event, rejects naming the column at fault."""
    events, _ = _events_and_next(content)
    missing = _drift(events)
    check_encoding = _SURROGATE_ESCAPE.search(content) is not None
    parsed = Parsed(rows={UPLINKS.name: []})
    if missing:
        parsed.missing[UPLINKS.name] = missing
    UPLINKS.collect(
        enumerate(events, start=1),
        parsed,
        convert=lambda event: _record(event, missing, check_encoding),
        payload=_payload,
    )
    return parsed


def _payload(event: Any) -> str:
    """The event as received; a lone surrogate (from a ``\\udXXX`` escape) stays an escape."""
    return as_payload(event).encode("utf-8", "backslashreplace").decode("utf-8")


def _events_and_next(content: bytes) -> tuple[list[Any], str | None]:
    body = read_json(content, DATASET)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ParseError(f"{DATASET}: response has no 'events' list")
    next_url = body.get("next")
    if next_url is not None and not isinstance(next_url, str):
        raise ParseError(f"{DATASET}: 'next' is not a URL: {next_url!r}")
    return body["events"], next_url or None


def _drift(events: list[Any]) -> set[str]:
    """The columns whose source field is absent from every event (of two or more): drift."""
    missing: set[str] = set()
    if len(events) < 2:
        return missing
    for path, columns in DRIFT_FIELDS.items():
        if not any(_has(event, path) for event in events):
            missing.update(columns)
    for port, reading in READINGS.items():
        of_port = [e for e in events if isinstance(e, dict) and e.get("fPort") == port]
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
    if not isinstance(event, dict):
        raise RowError(f"event: expected a JSON object, got {type(event).__name__}")
    for field, column in (("time", "time"), ("deviceInfo", "dev_eui")):
        if column not in missing and event.get(field) in (None, ""):
            raise RowError(f"column {column!r}: {field!r} is missing")
    info = _mapping(event.get("deviceInfo"), "dev_eui")
    if "dev_eui" not in missing and info.get("devEui") in (None, ""):
        raise RowError("column 'dev_eui': 'deviceInfo.devEui' is missing")
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
