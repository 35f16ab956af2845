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
member's header time. ``Parsed.version`` is the header timestamp of a live feed (POSIX seconds as
text), which the loader compares with the previous batch of the same URL to spot a feed that
stopped moving; for a zip, or a feed without header time, it is ``None`` and the loader compares
the sha256.

Shapes accepted: any FeedMessage the GTFS-Realtime reference allows, not only the KKTS one. Every
field the reference makes optional or conditionally required may be absent and is then null:
``trip_id`` (a trip may be given by ``route_id``, ``direction_id``, ``start_time`` and
``start_date``), ``start_date``, ``stop_sequence`` (a stop may be given by ``stop_id`` alone),
arrival/departure ``time`` (an event may carry only a ``delay``), uncertainties, the whole
VehicleDescriptor, TripDescriptor or Position of a VehiclePosition, ``vehicle.timestamp``,
``header.incrementality`` (FULL_DATASET by default), and ``header.timestamp`` in a version 1.0
feed (only 2.0 requires it). Those rows load; the KPIs that need a field skip the rows without it.

What the reference forbids is refused, in one line naming the rule and the fix:

- the whole response (:class:`ParseError`): bytes that do not decode as a FeedMessage; no
  ``header.gtfs_realtime_version``; a 2.0 feed without ``header.timestamp``; a FeedEntity without
  ``id``, or carrying none of trip_update, vehicle, alert, shape, stop, trip_modifications (unless
  ``is_deleted``); in a zip, a member that cannot be read (named) or no ``.pb`` member at all;
- one row (a reject naming the element and the rule; the rest loads): a TripUpdate whose trip has
  no ``trip_id`` and lacks one of ``route_id``, ``direction_id``, ``start_time``, ``start_date``
  (each of its StopTimeUpdates); a StopTimeUpdate with neither ``stop_sequence`` nor ``stop_id``;
  a StopTimeEvent with neither ``time`` nor ``delay``; a SCHEDULED StopTimeUpdate with neither
  arrival nor departure; a Position without ``latitude`` or ``longitude``; a VehiclePosition with
  no time at all (neither ``vehicle.timestamp`` nor a header time, possible in 1.0 only).

Alerts, shapes and the other entity types are not loaded. Protobuf cannot tell a dropped field
from an unset one, and the reference lets every loaded field but these identifiers be absent,
so this connector reports no schema drift (``Parsed.missing`` stays empty).

Keys (never null, so that rows without the optional fields still merge):

- ``transit_gtfs_rt_trip_updates`` (one row per StopTimeUpdate; a TripUpdate without any, e.g. a
  CANCELED trip, has none): ``trip_key``, ``stop_key``, ``is_predicted``. ``trip_key`` names the
  trip instance: ``trip_id``, or ``route <route_id> direction <direction_id> at <start_time>`` for
  a trip given by route, followed by `` on <YYYY-MM-DD>`` when ``start_date`` is given (without
  it, the latest update of the trip replaces the previous one). ``stop_key`` is ``sequence <n>``,
  or ``stop <stop_id>`` when the update has no ``stop_sequence``.
- ``transit_gtfs_rt_vehicle_positions``: ``vehicle_key``, ``observed_at``. ``vehicle_key`` is
  ``vehicle.id``, else ``label <label>``, ``plate <license_plate>``, or ``entity <entity id>``;
  ``observed_at`` is ``vehicle.timestamp``, else the feed's header time.

Conversions done here, once:

- ``is_predicted``: the time is a prediction of a stop not reached yet, as opposed to an
  observation: an uncertainty > 0, or, when the producer gives no uncertainty, an arrival (else
  departure) time after the feed's header time. It is part of the key, so a live feed's
  prediction never overwrites the archive's observation of the same stop;
- POSIX times become TIMESTAMPTZ (UTC); ``start_date`` (``YYYYMMDD``) becomes DATE;
  ``start_time`` stays text (it may pass 24:00:00) and gains ``start_time_seconds``;
- enums become their names (``SCHEDULED``, ``STOPPED_AT``, …).

Every typed row keeps its 1-based position among its table's records of the feed (of a zip: of
all its members, in order) under ``_row``.

``check_kind`` refuses a received file that is plainly no FeedMessage nor a zip of them (text,
JSON, HTML, a zip without any ``.pb`` member) before it is landed.

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

from connectors import clock
from connectors.base import (
    NotFoundError,
    Page,
    Parsed,
    ParseError,
    RowError,
    Source,
    Table,
    WrongKindError,
    as_payload,
    describe_content,
)
from connectors.http import fetch

DATASET = "transit.gtfs_rt"
DEFAULT_TRIP_UPDATES_PATH = "/gtfs-rt/trip-updates.pb"
DEFAULT_VEHICLE_POSITIONS_PATH = "/gtfs-rt/vehicle-positions.pb"
DEFAULT_ARCHIVE_PATH = "/gtfs-rt/archive/{month}.zip"
REFERENCE = "GTFS-Realtime reference"
TAKES = (
    f"{DATASET} takes a GTFS-Realtime FeedMessage (protobuf, e.g. trip-updates.pb) "
    "or a monthly archive zip of them (<YYYY-MM-DD>/trip-updates.pb)"
)

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
        "trip_key": V,
        "stop_key": V,
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
    ("trip_key", "stop_key", "is_predicted"),
    # rows stored before these keys existed were all keyed by trip_id, start_date, stop_sequence
    filled_by={
        "trip_key": "trip_id || coalesce(' on ' || strftime(start_date, '%Y-%m-%d'), '')",
        "stop_key": "'sequence ' || stop_sequence",
    },
)
VEHICLE_POSITIONS = Table(
    "transit_gtfs_rt_vehicle_positions",
    {
        "vehicle_key": V,
        "observed_at": TS,
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
    ("vehicle_key", "observed_at"),
    # rows stored before these keys existed were all keyed by vehicle_id, position_timestamp
    filled_by={"vehicle_key": "vehicle_id", "observed_at": "position_timestamp"},
)
TABLES: tuple[Table, ...] = (TRIP_UPDATES, VEHICLE_POSITIONS)
FRESHNESS: tuple[str, str] | None = (TRIP_UPDATES.name, "feed_timestamp")

_TIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ARCHIVED_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})/trip-updates\.pb")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip
_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError)
_HEADER_TAG = 0x0A  # FeedMessage field 1 (header), length-delimited: how a FeedMessage begins
_CONTENT = tuple(  # what a FeedEntity may carry (the bindings' version decides which exist)
    name
    for name in ("trip_update", "vehicle", "alert", "shape", "stop", "trip_modifications")
    if name in rt.FeedEntity.DESCRIPTOR.fields_by_name
)
_BY_ROUTE = ("route_id", "direction_id", "start_time", "start_date")  # a trip without trip_id
_PROBLEM = "_problem"  # a record's breach of the reference: the reason it is rejected
_STOP_RELATIONSHIPS = {
    value.number: value.name
    for value in rt.TripUpdate.StopTimeUpdate.DESCRIPTOR.fields_by_name[
        "schedule_relationship"
    ].enum_type.values
}
_SCHEDULED = rt.TripUpdate.StopTimeUpdate.SCHEDULED
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
    return clock.today()


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


# --------------------------------------------------------------------------- kind


def check_kind(content: bytes) -> None:
    """Refuse (:class:`WrongKindError`, one line) a received file that is neither a FeedMessage
    nor a zip of them: cheap sniffing of the first bytes (a FeedMessage opens with its header,
    field 1) or of the zip's member names; a damaged file of the right kind is let through."""
    if content[:4] in _ZIP_MAGIC:
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = [name for name in archive.namelist() if not name.endswith("/")]
        except (*_UNREADABLE, ValueError):
            return  # a damaged zip: landed, then rejected by parse
        if not any(name.endswith(".pb") for name in names):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") or "nothing"
            raise WrongKindError(f"is a zip archive without any .pb member ({shown}); {TAKES}")
        return
    if not _opens_with_header(content):
        raise WrongKindError(
            f"is {describe_content(content)}, not a GTFS-Realtime FeedMessage; {TAKES}"
        )


def _opens_with_header(content: bytes) -> bool:
    """Whether ``content`` starts as a FeedMessage does: tag 0x0A, a length that fits, and
    bytes that decode as a FeedHeader (its required fields are for ``parse`` to judge)."""
    if len(content) < 2 or content[0] != _HEADER_TAG:
        return False
    length, shift, position = 0, 0, 1
    while position < min(len(content), 6):
        byte = content[position]
        length |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            break
        shift += 7
    else:
        return False
    if position + length > len(content):
        return False
    try:
        rt.FeedHeader().MergeFromString(content[position : position + length])
    except DecodeError:
        return False
    return True


# --------------------------------------------------------------------------- parse


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
        table.collect(enumerate(records, 1), parsed, _within_the_reference, _received)
    return parsed


def _feed(content: bytes, where: str) -> rt.FeedMessage:
    """One FeedMessage, or :class:`ParseError` naming the rule of the reference it breaks;
    ``where`` (e.g. ``"zip member '…': "``) says which one of a zip."""
    feed = rt.FeedMessage()
    try:
        feed.MergeFromString(content)
    except DecodeError as error:
        raise ParseError(
            f"{where}a GTFS-Realtime feed is a protobuf FeedMessage ({REFERENCE}, FeedMessage): "
            f"the bytes do not decode as one ({_one_line(error)}); send the binary FeedMessage "
            "as served, not a text or JSON rendering of it"
        ) from None
    problem = _feed_problem(feed)
    if problem:
        raise ParseError(f"{where}{problem}")
    return feed


def _feed_problem(feed: rt.FeedMessage) -> str | None:
    """What the FeedMessage as a whole breaks of the reference (header, entity ids), if any."""
    header = feed.header
    if not header.gtfs_realtime_version:
        return (
            f"GTFS-Realtime requires header.gtfs_realtime_version ({REFERENCE}, FeedHeader): "
            'the FeedMessage has none; set it to the version the feed follows, e.g. "2.0"'
        )
    version = header.gtfs_realtime_version
    if not version.startswith("1") and not header.HasField("timestamp"):
        return (
            f"GTFS-Realtime {version} requires header.timestamp ({REFERENCE}, FeedHeader): the "
            "header has none; set it to the POSIX time at which the feed content was created"
        )
    for number, entity in enumerate(feed.entity, 1):
        if not entity.id:
            return (
                f"GTFS-Realtime requires an id on every FeedEntity ({REFERENCE}, FeedEntity): "
                f"entity {number} of {len(feed.entity)} has none; give every entity a "
                "feed-unique id"
            )
        if not entity.is_deleted and not any(entity.HasField(name) for name in _CONTENT):
            return (
                f"GTFS-Realtime requires a FeedEntity to carry a trip_update, vehicle, alert or "
                f"shape ({REFERENCE}, FeedEntity): entity {entity.id!r} carries none; drop the "
                "empty entity or fill it"
            )
    return None


def _archived_feeds(content: bytes) -> list[rt.FeedMessage]:
    """The FeedMessage of every ``.pb`` member of an archive zip, in the zip's order."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (*_UNREADABLE, ValueError) as error:
        raise ParseError(
            f"the archive is not a readable zip file ({_one_line(error)}): it may be cut short; "
            "fetch or export it again"
        ) from None
    feeds = []
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".pb"):
                continue  # a folder, or a read-me: not a feed
            where = f"zip member {info.filename!r}: "
            try:
                data = archive.read(info)
            except _UNREADABLE as error:
                raise ParseError(
                    f"{where}cannot be read ({_one_line(error)}): the archive is damaged; "
                    "fetch or export it again"
                ) from None
            feeds.append(_feed(data, where))
    if not feeds:
        raise ParseError(
            "an archive holds FeedMessages as .pb members: the zip has no .pb member; send the "
            "month's zip of <YYYY-MM-DD>/trip-updates.pb files"
        )
    return feeds


def _within_the_reference(record: dict[str, Any]) -> dict[str, Any]:
    """The record, or :class:`RowError` with the rule it breaks (found while reading it)."""
    problem = record.get(_PROBLEM)
    if problem:
        raise RowError(problem)
    return record


def _received(record: dict[str, Any]) -> str:
    return as_payload({name: value for name, value in record.items() if name != _PROBLEM})


def _add_trip_update_records(
    entity: rt.FeedEntity, feed_timestamp: Any, records: list[dict[str, Any]]
) -> None:
    """One record per StopTimeUpdate, appended to ``records``.

    The hot loop of a year's archive (millions of StopTimeUpdates), so fields are read inline
    rather than through :func:`_get`.
    """
    update = entity.trip_update
    trip = _trip(update.trip)
    trip_key, problem = _trip_key(trip)
    base = {
        "trip_key": trip_key,
        "feed_timestamp": feed_timestamp,
        "entity_id": entity.id,
        **trip,
        "vehicle_id": _get(update.vehicle, "id"),
        "vehicle_label": _get(update.vehicle, "label"),
        "trip_update_timestamp": _moment(_get(update, "timestamp")),
        "trip_delay": _get(update, "delay"),
    }
    for stop in update.stop_time_update:
        has = stop.HasField
        record = base.copy()
        sequence = stop.stop_sequence if has("stop_sequence") else None
        stop_id = stop.stop_id if has("stop_id") and stop.stop_id else None
        record["stop_sequence"], record["stop_id"] = sequence, stop_id
        record["stop_key"] = (
            f"sequence {sequence}" if sequence is not None else stop_id and f"stop {stop_id}"
        )
        relationship = stop.schedule_relationship if has("schedule_relationship") else None
        record["schedule_relationship"] = (
            None
            if relationship is None
            else _STOP_RELATIONSHIPS.get(relationship, str(relationship))
        )
        events = []
        for name, (time, delay, uncertainty) in _EVENTS:
            if has(name):
                event = getattr(stop, name)
                has_event = event.HasField
                record[time] = _moment(event.time) if has_event("time") else None
                record[delay] = event.delay if has_event("delay") else None
                record[uncertainty] = event.uncertainty if has_event("uncertainty") else None
                events.append((name, has_event("time") or has_event("delay")))
            else:
                record[time] = record[delay] = record[uncertainty] = None
        record["is_predicted"] = _is_predicted(record, feed_timestamp)
        stop_problem = problem or _stop_problem(record, relationship, events)
        if stop_problem:
            record[_PROBLEM] = stop_problem
        records.append(record)


def _trip_key(trip: dict[str, Any]) -> tuple[str | None, str | None]:
    """The trip instance's key (see the module docstring), or the rule its descriptor breaks."""
    if trip["trip_id"]:
        name = trip["trip_id"]
    else:
        absent = [field for field in _BY_ROUTE if trip[field] is None]
        if absent:
            return None, (
                f"TripDescriptor without trip_id needs route_id, direction_id, start_time and "
                f"start_date ({REFERENCE}, TripDescriptor): {', '.join(absent)} missing"
            )
        name = f"route {trip['route_id']} direction {trip['direction_id']} at {trip['start_time']}"
    start = trip["start_date"]
    return (f"{name} on {start:%Y-%m-%d}" if isinstance(start, date) else name), None


def _stop_problem(
    record: dict[str, Any], relationship: int | None, events: list[tuple[str, bool]]
) -> str | None:
    """The rule of the reference a StopTimeUpdate breaks, if any."""
    if record["stop_key"] is None:
        return (
            f"StopTimeUpdate needs stop_sequence or stop_id ({REFERENCE}, StopTimeUpdate): "
            "both missing"
        )
    for name, timed in events:
        if not timed:
            return (
                f"StopTimeEvent needs time or delay ({REFERENCE}, StopTimeEvent): {name} "
                "has neither"
            )
    if not events and relationship in (None, _SCHEDULED):
        return (
            f"a SCHEDULED StopTimeUpdate needs arrival or departure ({REFERENCE}, "
            "StopTimeUpdate): both missing"
        )
    return None


def _is_predicted(record: dict[str, Any], feed_timestamp: Any) -> bool:
    """A prediction: an uncertainty > 0, or, without any uncertainty, a time after the feed's."""
    uncertainties = (record["arrival_uncertainty"], record["departure_uncertainty"])
    if any(u is not None for u in uncertainties):
        return any(uncertainties)
    moment = record["arrival_time"] or record["departure_time"]
    return (
        isinstance(moment, datetime)
        and isinstance(feed_timestamp, datetime)
        and moment > feed_timestamp
    )


def _vehicle_record(entity: rt.FeedEntity, feed_timestamp: Any) -> dict[str, Any]:
    vehicle = entity.vehicle
    descriptor = vehicle.vehicle if vehicle.HasField("vehicle") else None
    position = vehicle.position if vehicle.HasField("position") else None
    record = {
        "feed_timestamp": feed_timestamp,
        "entity_id": entity.id,
        "vehicle_id": _get(descriptor, "id"),
        "vehicle_label": _get(descriptor, "label"),
        "license_plate": _get(descriptor, "license_plate"),
        **(_trip(vehicle.trip) if vehicle.HasField("trip") else {}),
        **{name: _get(position, name) for name in ("latitude", "longitude", "bearing")},
        "odometer": _get(position, "odometer"),
        "speed": _get(position, "speed"),
        "current_stop_sequence": _get(vehicle, "current_stop_sequence"),
        "stop_id": _get(vehicle, "stop_id"),
        "current_status": _enum(vehicle, "current_status"),
        "congestion_level": _enum(vehicle, "congestion_level"),
        "occupancy_status": _enum(vehicle, "occupancy_status"),
        "occupancy_percentage": _get(vehicle, "occupancy_percentage"),
        "position_timestamp": _moment(_get(vehicle, "timestamp")),
    }
    record["vehicle_key"] = (
        record["vehicle_id"]
        or (record["vehicle_label"] and f"label {record['vehicle_label']}")
        or (record["license_plate"] and f"plate {record['license_plate']}")
        or f"entity {entity.id}"
    )
    record["observed_at"] = record["position_timestamp"] or feed_timestamp
    unplaced = [name for name in ("latitude", "longitude") if record[name] is None]
    if position is not None and unplaced:
        record[_PROBLEM] = (
            f"Position needs latitude and longitude ({REFERENCE}, Position): "
            f"{' and '.join(unplaced)} missing"
        )
    elif record["observed_at"] is None:
        record[_PROBLEM] = (
            "VehiclePosition has no time: neither vehicle.timestamp nor header.timestamp "
            f"({REFERENCE}, VehiclePosition), so it cannot be placed in time"
        )
    return record


def _trip(trip: rt.TripDescriptor) -> dict[str, Any]:
    start_time = _get(trip, "start_time")
    return {
        "trip_id": _get(trip, "trip_id") or None,
        "route_id": _get(trip, "route_id") or None,
        "direction_id": _get(trip, "direction_id"),
        "start_date": _date(_get(trip, "start_date")),
        "start_time": start_time or None,
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
        return text or None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return text


def _seconds(text: str | None) -> int | str | None:
    """GTFS time text → seconds after midnight; anything else is left for the BIGINT cast."""
    match = _TIME.fullmatch(text or "")
    if not match:
        return text or None
    hours, minutes, seconds = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _one_line(error: object) -> str:
    return " ".join(str(error).split())
