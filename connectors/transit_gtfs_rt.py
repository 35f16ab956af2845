"""KKTS GTFS-Realtime: TripUpdates and VehiclePositions (protobuf), plus the end-of-day archive.

``extract`` first reads the archive of past service days (``archive_path``, one page per day)
for the days after the watermark when ``options["archive_days"]`` > 0 (first run: that many days
back from ``as_of``, default today in Asia/Bangkok, up to yesterday), then the live feeds
(``trip_updates_path``, ``vehicle_positions_path``; an empty path skips that feed). The watermark
is the last archived day loaded (ISO date text), or ``None`` while no archive was read; live
pages carry the watermark as it stands after the archive pages.

``parse`` tells the feed type from its content (a feed may even mix both entity types) and sets
``Parsed.version`` to the header timestamp (POSIX seconds as text), which the loader compares
with the previous batch of the same URL to spot a feed that stopped moving.

Grain and conversions done here, once:

- one ``transit_gtfs_rt_trip_updates`` row per StopTimeUpdate, with its trip's fields; a
  TripUpdate without any StopTimeUpdate (e.g. a trip-level CANCELED) has no row here;
- a StopTimeUpdate identified by ``stop_id`` only (no ``stop_sequence``), a trip without
  ``start_date`` or a vehicle without ``vehicle.id`` or ``timestamp`` cannot be keyed and
  becomes a reject naming the column;
- POSIX times become TIMESTAMPTZ (UTC); ``start_date`` (``YYYYMMDD``) becomes DATE;
  ``start_time`` stays text (it may pass 24:00:00) and gains ``start_time_seconds``;
- enums become their names (``SCHEDULED``, ``STOPPED_AT``, …).

Every typed row keeps its 1-based position among its table's records of the feed under ``_row``.
Protobuf cannot tell a dropped field from an unset one, so schema drift is a field the contract
needs (``REQUIRED``: the key, the header time, a vehicle's position) that no record of a non-empty
table carries: it is named in ``Parsed.missing`` and typed null (even a key column, instead of
rejecting every row), and the table's suite, which expects the column to exist, sets the whole
feed aside.

``FRESHNESS``: the newest ``feed_timestamp`` of the TripUpdates (the header time of the feed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from google.protobuf.message import DecodeError, Message
from google.transit import gtfs_realtime_pb2 as rt

from connectors.base import (
    BANGKOK,
    NotFoundError,
    Page,
    Parsed,
    ParseError,
    Source,
    Table,
    as_payload,
)
from connectors.http import fetch

DATASET = "transit.gtfs_rt"
DEFAULT_TRIP_UPDATES_PATH = "/gtfs-rt/trip-updates.pb"
DEFAULT_VEHICLE_POSITIONS_PATH = "/gtfs-rt/vehicle-positions.pb"
DEFAULT_ARCHIVE_PATH = "/gtfs-rt/archive/{date}/trip-updates.pb"

V, B, D, DT, TS = "VARCHAR", "BIGINT", "DOUBLE", "DATE", "TIMESTAMPTZ"
_TRIP_COLUMNS = {
    "trip_id": V,
    "route_id": V,
    "direction_id": B,
    "start_date": DT,
    "start_time": V,
    "start_time_seconds": B,
    "trip_schedule_relationship": V,
}
TRIP_UPDATES = Table(
    "transit_gtfs_rt_trip_updates",
    {
        "feed_timestamp": TS,
        "entity_id": V,
        **_TRIP_COLUMNS,
        "vehicle_id": V,
        "vehicle_label": V,
        "trip_update_timestamp": TS,
        "trip_delay": B,
        "stop_sequence": B,
        "stop_id": V,
        "arrival_time": TS,
        "arrival_delay": B,
        "arrival_uncertainty": B,
        "departure_time": TS,
        "departure_delay": B,
        "departure_uncertainty": B,
        "schedule_relationship": V,
    },
    ("trip_id", "start_date", "stop_sequence"),
)
VEHICLE_POSITIONS = Table(
    "transit_gtfs_rt_vehicle_positions",
    {
        "feed_timestamp": TS,
        "entity_id": V,
        "vehicle_id": V,
        "vehicle_label": V,
        "license_plate": V,
        **_TRIP_COLUMNS,
        "latitude": D,
        "longitude": D,
        "bearing": D,
        "odometer": D,
        "speed": D,
        "current_stop_sequence": B,
        "stop_id": V,
        "current_status": V,
        "congestion_level": V,
        "occupancy_status": V,
        "occupancy_percentage": B,
        "position_timestamp": TS,
    },
    ("vehicle_id", "position_timestamp"),
)
TABLES: tuple[Table, ...] = (TRIP_UPDATES, VEHICLE_POSITIONS)
FRESHNESS: tuple[str, str] | None = (TRIP_UPDATES.name, "feed_timestamp")
# Columns every record of a healthy feed fills; absent from all of them = schema drift.
REQUIRED: dict[str, tuple[str, ...]] = {
    TRIP_UPDATES.name: ("feed_timestamp", "trip_id", "start_date", "stop_sequence", "stop_id"),
    VEHICLE_POSITIONS.name: (
        "feed_timestamp",
        "vehicle_id",
        "latitude",
        "longitude",
        "position_timestamp",
    ),
}

_TIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    options = source.options
    archive_days = int(options.get("archive_days", 0))
    if archive_days > 0:
        today = _as_of(source)
        day = (
            date.fromisoformat(watermark) + timedelta(days=1)
            if watermark
            else today - timedelta(days=archive_days)
        )
        template = options.get("archive_path", DEFAULT_ARCHIVE_PATH)
        while day < today:
            path = template.format(date=day.isoformat())
            try:
                page = fetch(client, source, path, extension="pb", watermark_after=day.isoformat())
            except NotFoundError:
                break  # not archived yet: the watermark stays, the next run asks again
            watermark = day.isoformat()
            yield page
            day += timedelta(days=1)
    for option, default in (
        ("trip_updates_path", DEFAULT_TRIP_UPDATES_PATH),
        ("vehicle_positions_path", DEFAULT_VEHICLE_POSITIONS_PATH),
    ):
        path = options.get(option, default)
        if path:
            yield fetch(client, source, path, extension="pb", watermark_after=watermark)


def _as_of(source: Source) -> date:
    """The run's "today" (Asia/Bangkok); ``options["as_of"]`` pins it for backfills and tests."""
    value = source.options.get("as_of")
    if value:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    return datetime.now(BANGKOK).date()


def parse(content: bytes) -> Parsed:
    feed = rt.FeedMessage()
    try:
        feed.ParseFromString(content)
    except DecodeError as error:
        raise ParseError(f"{DATASET}: not a GTFS-Realtime FeedMessage: {error}") from None
    if not feed.HasField("header") or not feed.header.gtfs_realtime_version:
        raise ParseError(f"{DATASET}: FeedMessage has no header (gtfs_realtime_version)")
    header_time = _get(feed.header, "timestamp")
    parsed = Parsed(version=None if header_time is None else str(header_time))
    feed_timestamp = _moment(header_time)
    trip_updates: list[dict[str, Any]] = []
    vehicles: list[dict[str, Any]] = []
    for entity in feed.entity:
        if entity.HasField("trip_update"):
            trip_updates.extend(_trip_update_records(entity, feed_timestamp))
        if entity.HasField("vehicle"):
            vehicles.append(_vehicle_record(entity, feed_timestamp))
    for table, records in ((TRIP_UPDATES, trip_updates), (VEHICLE_POSITIONS, vehicles)):
        missing = {
            column
            for column in REQUIRED[table.name]
            if records and all(record.get(column) is None for record in records)
        }
        if missing:  # drift: typed null, a key column too, for the suite to judge
            parsed.missing[table.name] = missing
        table.collect(
            ((number, record, as_payload(record)) for number, record in enumerate(records, 1)),
            parsed,
        )
    return parsed


def _trip_update_records(entity: rt.FeedEntity, feed_timestamp: Any) -> list[dict[str, Any]]:
    update = entity.trip_update
    trip = {
        "feed_timestamp": feed_timestamp,
        "entity_id": entity.id,
        **_trip(update.trip),
        "vehicle_id": _get(update.vehicle, "id"),
        "vehicle_label": _get(update.vehicle, "label"),
        "trip_update_timestamp": _moment(_get(update, "timestamp")),
        "trip_delay": _get(update, "delay"),
    }
    records = []
    for stop in update.stop_time_update:
        record = {
            **trip,
            "stop_sequence": _get(stop, "stop_sequence"),
            "stop_id": _get(stop, "stop_id"),
            "schedule_relationship": _enum(stop, "schedule_relationship"),
        }
        for name in ("arrival", "departure"):
            event = getattr(stop, name) if stop.HasField(name) else None
            record[f"{name}_time"] = _moment(_get(event, "time"))
            record[f"{name}_delay"] = _get(event, "delay")
            record[f"{name}_uncertainty"] = _get(event, "uncertainty")
        records.append(record)
    return records


def _vehicle_record(entity: rt.FeedEntity, feed_timestamp: Any) -> dict[str, Any]:
    vehicle = entity.vehicle
    position = vehicle.position if vehicle.HasField("position") else None
    occupancy = _get(vehicle, "occupancy_percentage")
    return {
        "feed_timestamp": feed_timestamp,
        "entity_id": entity.id,
        "vehicle_id": _get(vehicle.vehicle, "id"),
        "vehicle_label": _get(vehicle.vehicle, "label"),
        "license_plate": _get(vehicle.vehicle, "license_plate"),
        **(_trip(vehicle.trip) if vehicle.HasField("trip") else {}),
        **{name: _get(position, name) for name in ("latitude", "longitude", "bearing")},
        "odometer": _get(position, "odometer"),
        "speed": _get(position, "speed"),
        "current_stop_sequence": _get(vehicle, "current_stop_sequence"),
        "stop_id": _get(vehicle, "stop_id"),
        "current_status": _enum(vehicle, "current_status"),
        "congestion_level": _enum(vehicle, "congestion_level"),
        "occupancy_status": _enum(vehicle, "occupancy_status"),
        "occupancy_percentage": occupancy,
        "position_timestamp": _moment(_get(vehicle, "timestamp")),
    }


def _trip(trip: rt.TripDescriptor) -> dict[str, Any]:
    start_time = _get(trip, "start_time")
    return {
        "trip_id": _get(trip, "trip_id"),
        "route_id": _get(trip, "route_id"),
        "direction_id": _get(trip, "direction_id"),
        "start_date": _date(_get(trip, "start_date")),
        "start_time": start_time,
        "start_time_seconds": _seconds(start_time),
        "trip_schedule_relationship": _enum(trip, "schedule_relationship"),
    }


def _get(message: Message | None, field: str) -> Any:
    """A field's value, or ``None`` when the message or the (optional) field is absent."""
    if message is None or not message.HasField(field):
        return None
    return getattr(message, field)


def _enum(message: Message, field: str) -> str | None:
    value = _get(message, field)
    if value is None:
        return None
    known = message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number.get(value)
    return known.name if known else str(value)


def _moment(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _date(text: str | None) -> date | str | None:
    """``YYYYMMDD`` → date; anything else is left as is for the DATE cast to reject by name."""
    match = _DATE.fullmatch(text or "")
    if not match:
        return text
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return text


def _seconds(text: str | None) -> int | str | None:
    """GTFS time text → seconds after midnight; anything else is left for the BIGINT cast."""
    match = _TIME.fullmatch(text or "")
    if not match:
        return text
    hours, minutes, seconds = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds
