"""KKTS GTFS-Realtime: TripUpdates and VehiclePositions (protobuf), plus the monthly archive.

``extract`` first reads the archive of past service days when ``options["archive_days"]`` > 0:
one zip per month (``archive_path``, ``{month}`` = ``YYYY-MM``), each holding the end-of-day
TripUpdates FeedMessage of every service day of that month that has ended, named
``<YYYY-MM-DD>/trip-updates.pb``. It reads the months from that of the day after the watermark
(first run: of ``archive_days`` back from ``as_of``, default today in Asia/Bangkok) up to that
of yesterday; a month that answers 404 ends the archive for this run. Then the live feeds
(``trip_updates_path``, ``vehicle_positions_path``; an empty path skips that feed). The watermark
is the newest day a loaded zip holds (ISO date text; from the member names), or ``None`` while no
archive was read; live pages carry the watermark as it stands after the archive pages. Days of a
month before ``archive_days`` back come too: they are history, and loads merge on the key.

``parse`` tells a zip (by its magic bytes) from a FeedMessage, and the feed type from its content
(a feed may even mix both entity types). A zip's ``.pb`` members are parsed in order into the same
tables (other members, e.g. a read-me, are skipped), each row's ``feed_timestamp`` being its own
member's header time; a zip or member that cannot be read raises :class:`ParseError` naming it.
``Parsed.version`` is the header timestamp of a live feed (POSIX seconds as text), which the
loader compares with the previous batch of the same URL to spot a feed that stopped moving; for a
zip it is ``None``, so the loader compares the sha256 and sees an unchanged month as such.

Grain and conversions done here, once:

- one ``transit_gtfs_rt_trip_updates`` row per StopTimeUpdate, with its trip's fields; a
  TripUpdate without any StopTimeUpdate (e.g. a trip-level CANCELED) has no row here;
- ``is_predicted``: the time carries an uncertainty (a prediction of a stop not reached yet),
  as opposed to an observation (uncertainty 0 or none). It is part of the key, so a live
  feed's prediction never overwrites the archive's observation of the same stop;
- a StopTimeUpdate identified by ``stop_id`` only (no ``stop_sequence``), a trip without
  ``start_date`` or a vehicle without ``vehicle.id`` or ``timestamp`` cannot be keyed and
  becomes a reject naming the column;
- POSIX times become TIMESTAMPTZ (UTC); ``start_date`` (``YYYYMMDD``) becomes DATE;
  ``start_time`` stays text (it may pass 24:00:00) and gains ``start_time_seconds``;
- enums become their names (``SCHEDULED``, ``STOPPED_AT``, …).

Every typed row keeps its 1-based position among its table's records of the feed (of a zip: of
all its members, in order) under ``_row``. Protobuf cannot tell a dropped field from an unset one,
so schema drift is a field the contract needs (``REQUIRED``: the key, the header time, a
vehicle's position) that no record of a non-empty table carries (in a zip: of any member): it is
named in ``Parsed.missing`` and typed null (even a key column, instead of rejecting every row),
and the table's suite, which expects the column to exist, sets the whole feed aside.

``FRESHNESS``: the newest ``feed_timestamp`` of the TripUpdates (the header time of the feed).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
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
)
from connectors.http import fetch

DATASET = "transit.gtfs_rt"
DEFAULT_TRIP_UPDATES_PATH = "/gtfs-rt/trip-updates.pb"
DEFAULT_VEHICLE_POSITIONS_PATH = "/gtfs-rt/vehicle-positions.pb"
DEFAULT_ARCHIVE_PATH = "/gtfs-rt/archive/{month}.zip"

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
        "is_predicted": "BOOLEAN",
    },
    ("trip_id", "start_date", "stop_sequence", "is_predicted"),
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
_ARCHIVED_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})/trip-updates\.pb")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip
_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError)
_STOP_RELATIONSHIPS = {
    value.number: value.name
    for value in rt.TripUpdate.StopTimeUpdate.DESCRIPTOR.fields_by_name[
        "schedule_relationship"
    ].enum_type.values
}
_EVENTS = tuple(
    (event, (f"{event}_time", f"{event}_delay", f"{event}_uncertainty"))
    for event in ("arrival", "departure")
)


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    options = source.options
    archive_days = int(options.get("archive_days", 0))
    if archive_days > 0:
        today = _as_of(source)
        first = (
            date.fromisoformat(watermark) + timedelta(days=1)
            if watermark
            else today - timedelta(days=archive_days)
        )
        template = options.get("archive_path", DEFAULT_ARCHIVE_PATH)
        month = first.replace(day=1)
        found = watermark is not None
        while first < today and month < today:  # up to the month of yesterday
            path = template.format(month=f"{month:%Y-%m}")
            try:
                page = fetch(client, source, path, extension="zip")
            except NotFoundError:
                if found:
                    break  # not published (yet): the watermark stays, the next run asks again
                month = (month + timedelta(days=31)).replace(day=1)
                continue  # a first run asked for more than the source keeps: start where it does
            found = True
            newest = _newest_day(page.content)
            if newest is not None and (watermark is None or newest > watermark):
                watermark = newest
            yield replace(page, watermark_after=watermark)
            month = (month + timedelta(days=31)).replace(day=1)
    for option, default in (
        ("trip_updates_path", DEFAULT_TRIP_UPDATES_PATH),
        ("vehicle_positions_path", DEFAULT_VEHICLE_POSITIONS_PATH),
    ):
        path = options.get(option, default)
        if path:
            yield fetch(client, source, path, extension="pb", watermark_after=watermark)


def backfill(source: Source, start: date, end: date) -> tuple[Source, str | None]:
    """The archive months holding ``start`` to ``end`` (whole months), without the live feeds.

    The live feeds say what happens now, not on the days asked for, so their paths are emptied.
    """
    options = {
        **source.options,
        "as_of": (end + timedelta(days=1)).isoformat(),
        "archive_days": max(1, (end - start).days + 1),
        "trip_updates_path": "",
        "vehicle_positions_path": "",
    }
    return replace(source, options=options), (start - timedelta(days=1)).isoformat()


def _as_of(source: Source) -> date:
    """The run's "today" (Asia/Bangkok); ``options["as_of"]`` pins it for backfills and tests."""
    value = source.options.get("as_of")
    if value:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    return datetime.now(BANGKOK).date()


def _newest_day(content: bytes) -> str | None:
    """The newest service day a month's zip holds, by its members' names (ISO date text).

    ``None`` when the zip cannot be read or names no day: the watermark then stays where it was
    (and ``parse`` says what is wrong with the zip).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except (*_UNREADABLE, ValueError):
        return None
    days = set()
    for name in names:
        match = _ARCHIVED_DAY.fullmatch(name)
        if match:
            with suppress(ValueError):  # 2026-02-30 is no day
                days.add(date.fromisoformat(match[1]))
    return max(days).isoformat() if days else None


def parse(content: bytes) -> Parsed:
    if content[:4] in _ZIP_MAGIC:
        feeds = _archived_feeds(content)
        parsed = Parsed()  # no version: the loader compares the zip's sha256
    else:
        feeds = [_feed(content, "")]
        header_time = _get(feeds[0].header, "timestamp")
        parsed = Parsed(version=None if header_time is None else str(header_time))
    trip_updates: list[dict[str, Any]] = []
    vehicles: list[dict[str, Any]] = []
    for feed in feeds:
        feed_timestamp = _moment(_get(feed.header, "timestamp"))
        for entity in feed.entity:
            if entity.HasField("trip_update"):
                _add_trip_update_records(entity, feed_timestamp, trip_updates)
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
        table.collect(enumerate(records, 1), parsed)
    return parsed


def _feed(content: bytes, where: str) -> rt.FeedMessage:
    """One FeedMessage; ``where`` (e.g. ``"zip member '…': "``) prefixes what is wrong with it."""
    feed = rt.FeedMessage()
    try:
        feed.ParseFromString(content)
    except DecodeError as error:
        raise ParseError(f"{DATASET}: {where}not a GTFS-Realtime FeedMessage: {error}") from None
    if not feed.HasField("header") or not feed.header.gtfs_realtime_version:
        raise ParseError(f"{DATASET}: {where}FeedMessage has no header (gtfs_realtime_version)")
    return feed


def _archived_feeds(content: bytes) -> list[rt.FeedMessage]:
    """The FeedMessage of every ``.pb`` member of an archive zip, in the zip's order."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (*_UNREADABLE, ValueError) as error:
        raise ParseError(f"{DATASET}: not a readable zip file: {error}") from None
    feeds = []
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".pb"):
                continue  # a folder, or a read-me: not a feed
            where = f"zip member {info.filename!r}: "
            try:
                data = archive.read(info)
            except _UNREADABLE as error:
                raise ParseError(f"{DATASET}: {where}cannot be read: {error}") from None
            feeds.append(_feed(data, where))
    if not feeds:
        raise ParseError(f"{DATASET}: the zip holds no FeedMessage (no .pb member)")
    return feeds


def _add_trip_update_records(
    entity: rt.FeedEntity, feed_timestamp: Any, records: list[dict[str, Any]]
) -> None:
    """One record per StopTimeUpdate, appended to ``records``.

    The hot loop of a year's archive (millions of StopTimeUpdates), so fields are read inline
    rather than through :func:`_get`.
    """
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
    for stop in update.stop_time_update:
        has = stop.HasField
        record = trip.copy()
        record["stop_sequence"] = stop.stop_sequence if has("stop_sequence") else None
        record["stop_id"] = stop.stop_id if has("stop_id") else None
        record["schedule_relationship"] = (
            _STOP_RELATIONSHIPS.get(stop.schedule_relationship, str(stop.schedule_relationship))
            if has("schedule_relationship")
            else None
        )
        for name, (time, delay, uncertainty) in _EVENTS:
            if has(name):
                event = getattr(stop, name)
                has_event = event.HasField
                record[time] = _moment(event.time) if has_event("time") else None
                record[delay] = event.delay if has_event("delay") else None
                record[uncertainty] = event.uncertainty if has_event("uncertainty") else None
            else:
                record[time] = record[delay] = record[uncertainty] = None
        record["is_predicted"] = bool(
            record["arrival_uncertainty"] or record["departure_uncertainty"]
        )
        records.append(record)


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


def _moment(seconds: int | None) -> datetime | int | None:
    """POSIX seconds → UTC; past what a datetime holds, left for the TIMESTAMPTZ cast to reject."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return seconds


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
