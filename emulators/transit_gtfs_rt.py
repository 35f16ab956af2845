"""GTFS-Realtime TripUpdates and VehiclePositions of the KKTS emulator.

The trips are the GTFS static trips of :mod:`emulators.transit_gtfs` (same ``trip_id`` and
``stop_sequence``). What actually happens on a trip (its delay at every stop) is drawn from
``rng("transit.gtfs_rt", day, trip_id)``, so a day's operations never change: the live feed at
14:30 shows the same past arrivals as the end-of-day archive of that day.

The archive is published by month, as agencies publish history: a zip holding one end-of-day
TripUpdates FeedMessage per service day (``<YYYY-MM-DD>/trip-updates.pb``), with fixed member
dates so that the same days give the same bytes.

Rows are built as plain dicts (named like the raw table's columns), the data faults are applied
to those dicts, then the ``shape`` knob, and only then are they encoded as protobuf
(:func:`trip_updates_body`, :func:`vehicle_positions_body`).

``shape`` (data knob; absent = the KKTS feed as it is):

- ``minimal``: the least the GTFS-Realtime reference allows. The header has no incrementality;
  TripUpdates name their trip by ``route_id``, ``direction_id``, ``start_time`` and
  ``start_date`` (no ``trip_id``), carry no vehicle, timestamp or schedule relationship, and
  their StopTimeUpdates give only ``stop_id`` and ``arrival.time`` (no ``stop_sequence``, delay,
  uncertainty or departure); VehiclePositions carry only ``vehicle.id`` and a position (no trip,
  timestamp, stop or status). Applies to the live feeds and to the archive.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from emulators.synthetic import BANGKOK, rng
from emulators.transit_gtfs import (
    OUTSIDE_PROVINCE,
    STOPS_BY_ID,
    Trip,
    distance_km,
    hms,
    targets,
    trips_on,
)

DAY = 86_400
END_OF_DAY = 26 * 3600  # an archived day is closed at 02:00 the next morning, after the last trip
ARCHIVE_MEMBER = "{day}/trip-updates.pb"
UNKNOWN_STOP = "ZZ999"
UNKNOWN_ROUTE = "ZZ99"


def midnight(day: date) -> int:
    """POSIX seconds of the service day's midnight in Bangkok (no DST, so noon − 12 h)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=BANGKOK).timestamp())


def actuals(day: date, trip: Trip) -> list[tuple[int, int]]:
    """What the vehicle really did: (arrival, departure) per stop, seconds after midnight.

    Delays drift along the trip, mostly within −1/+5 min; about one trip in twenty meets a
    disruption that adds 5–9 minutes. Times stay in order along the trip.
    """
    r = rng("transit.gtfs_rt", day.isoformat(), trip.trip_id)
    stops = trip.stop_times
    disrupted_at = r.randrange(1, len(stops)) if r.random() < 0.05 else None
    delay = min(240, max(-60, round(r.gauss(20, 45))))
    result: list[tuple[int, int]] = []
    for index, stop_time in enumerate(stops):
        if index:
            delay += round(r.gauss(6, 25))
        if index == disrupted_at:
            delay += r.randint(300, 540)
        delay = min(840, max(-90, delay))
        arrival = stop_time.arrival + delay
        if result:
            arrival = max(arrival, result[-1][1] + 30)
        result.append((arrival, max(stop_time.departure + delay, arrival)))
    return result


def trip_row(day: date, trip: Trip, now: int | None = None) -> dict[str, Any]:
    """One TripUpdate as a dict; ``now`` (seconds after the day's midnight) or end of day.

    Stops already reached carry what happened (uncertainty 0); later ones a prediction that
    carries the last observed delay forward (uncertainty 60 s).
    """
    base, done = midnight(day), actuals(day, trip)
    stops, last_delay, previous = [], 0, -DAY
    for stop_time, (arrival, departure) in zip(trip.stop_times, done, strict=True):
        if now is None or arrival <= now:
            uncertainty = 0
            last_delay = departure - stop_time.departure
        else:
            arrival = max(stop_time.arrival + last_delay, previous + 30, now + 30)
            departure = max(stop_time.departure + last_delay, arrival)
            uncertainty = 60
        previous = departure
        stops.append(
            {
                "stop_sequence": stop_time.stop_sequence,
                "stop_id": stop_time.stop_id,
                "arrival_time": base + arrival,
                "arrival_delay": arrival - stop_time.arrival,
                "arrival_uncertainty": uncertainty,
                "departure_time": base + departure,
                "departure_delay": departure - stop_time.departure,
                "departure_uncertainty": uncertainty,
            }
        )
    return {
        "entity_id": f"tu-{day:%Y%m%d}-{trip.trip_id}",
        "trip_id": trip.trip_id,
        "route_id": trip.route_id,
        "direction_id": trip.direction_id,
        "start_date": f"{day:%Y%m%d}",
        "start_time": hms(trip.start),
        "vehicle_id": trip.vehicle_id,
        "trip_update_timestamp": base + (done[-1][1] if now is None else now),
        "stops": stops,
    }


def _service_days(today: date, now: int) -> list[tuple[date, int]]:
    """(service day, now in seconds after that day's midnight): yesterday's trips may run on."""
    return [(today - timedelta(days=1), now + DAY), (today, now)]


def live_trip_rows(today: date, now: int) -> list[dict[str, Any]]:
    """Trips under way, or finished since midnight, at ``now`` seconds after today's midnight."""
    rows = []
    for day, moment in _service_days(today, now):
        today_began = moment - now  # today's midnight, in seconds after the service day's
        for trip in trips_on(day):
            done = actuals(day, trip)
            if done[0][1] > moment or done[-1][0] < today_began:
                continue  # not started yet, or finished before today began
            rows.append(trip_row(day, trip, moment))
    return rows


def archive_trip_rows(day: date) -> list[dict[str, Any]]:
    return [trip_row(day, trip) for trip in trips_on(day)]


def archive_zip(days: Iterable[date], faults: Mapping[str, Any]) -> bytes:
    """The end-of-day TripUpdates of ``days``, one FeedMessage per day, in one zip.

    The data faults and the shape apply to each day's feed. Every member is dated at its day's
    closing time, so the same days (and knobs) always give the same bytes.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for day in days:
            closed = midnight(day) + END_OF_DAY
            info = zipfile.ZipInfo(
                ARCHIVE_MEMBER.format(day=day.isoformat()),
                date_time=datetime.fromtimestamp(closed, BANGKOK).timetuple()[:6],
            )
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # the fastest deflate: a month is ~9 MB of protobuf, built on request
            body = trip_updates_body(archive_trip_rows(day), closed, faults)
            archive.writestr(info, body, compresslevel=1)
    return buffer.getvalue()


def vehicle_rows(today: date, now: int) -> list[dict[str, Any]]:
    """One position per vehicle on a trip at ``now``, plus a spare bus deadheading to the depot."""
    rows = []
    for day, moment in _service_days(today, now):
        base = midnight(day)
        for trip in trips_on(day):
            done = actuals(day, trip)
            if not done[0][1] <= moment < done[-1][0]:
                continue
            r = rng("transit.gtfs_rt.vehicle", trip.trip_id, base + moment)
            index = max(i for i, (arrival, _) in enumerate(done) if arrival <= moment)
            here = STOPS_BY_ID[trip.stop_times[index].stop_id]
            row = {
                "entity_id": f"vp-{trip.vehicle_id}",
                "vehicle_id": trip.vehicle_id,
                "vehicle_label": trip.vehicle_id.split("-", 1)[1],
                "trip_id": trip.trip_id,
                "route_id": trip.route_id,
                "direction_id": trip.direction_id,
                "start_date": f"{day:%Y%m%d}",
                "start_time": hms(trip.start),
                "position_timestamp": base + moment - r.randint(0, 20),
            }
            if moment <= done[index][1]:
                row |= {
                    "latitude": here.lat,
                    "longitude": here.lon,
                    "speed": 0.0,
                    "current_stop_sequence": trip.stop_times[index].stop_sequence,
                    "stop_id": here.stop_id,
                    "current_status": "STOPPED_AT",
                }
            else:
                after = STOPS_BY_ID[trip.stop_times[index + 1].stop_id]
                span = done[index + 1][0] - done[index][1]
                share = (moment - done[index][1]) / span
                row |= {
                    "latitude": round(here.lat + (after.lat - here.lat) * share, 6),
                    "longitude": round(here.lon + (after.lon - here.lon) * share, 6),
                    "bearing": _bearing(here.lat, here.lon, after.lat, after.lon),
                    "speed": round(distance_km(here, after) * 1000 / span, 1),
                    "current_stop_sequence": trip.stop_times[index + 1].stop_sequence,
                    "stop_id": after.stop_id,
                    "current_status": "IN_TRANSIT_TO",
                }
            rows.append(row)
    depot, field = STOPS_BY_ID["KK06"], STOPS_BY_ID["BP02"]
    share = (now % 1800) / 1800
    rows.append(
        {
            "entity_id": "vp-KKTS-SPARE-01",
            "vehicle_id": "KKTS-SPARE-01",
            "vehicle_label": "SPARE-01",
            "latitude": round(field.lat + (depot.lat - field.lat) * share, 6),
            "longitude": round(field.lon + (depot.lon - field.lon) * share, 6),
            "bearing": _bearing(field.lat, field.lon, depot.lat, depot.lon),
            "speed": 8.3,
            "position_timestamp": midnight(today) + now,
        }
    )
    return rows


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    y = math.sin(math.radians(lon2 - lon1)) * math.cos(math.radians(lat2))
    x = math.cos(math.radians(lat1)) * math.sin(math.radians(lat2)) - math.sin(
        math.radians(lat1)
    ) * math.cos(math.radians(lat2)) * math.cos(math.radians(lon2 - lon1))
    return round(math.degrees(math.atan2(y, x)) % 360, 1)


# --------------------------------------------------------------------------- faults


def fault_trip_rows(rows: list[dict[str, Any]], faults: Mapping[str, Any]) -> None:
    """Data faults on StopTimeUpdates (the rows of the raw table), in place."""
    updates = [(trip, stop) for trip in rows for stop in trip["stops"]]
    for index in targets(faults, "malformed_rows", len(updates)):
        updates[index][1].pop("stop_sequence", None)  # no stop named at all: the reference
        updates[index][1].pop("stop_id", None)  # asks for stop_sequence or stop_id
    for index in targets(faults, "out_of_range", len(updates)):
        stop = updates[index][1]
        stop["arrival_time"] -= 7200 + stop["arrival_delay"]
        stop["arrival_delay"] = -7200  # two hours early: no vehicle does that
    for index in targets(faults, "unknown_codes", len(updates)):
        updates[index][1]["stop_id"] = UNKNOWN_STOP
    for index in reversed(targets(faults, "duplicate_rows", len(updates))):
        trip, stop = updates[index]
        trip["stops"].insert(trip["stops"].index(stop) + 1, dict(stop))
    missing = faults.get("missing_column")
    if missing:
        for trip in rows:
            trip.pop(missing, None)
            for stop in trip["stops"]:
                stop.pop(missing, None)


def fault_vehicle_rows(rows: list[dict[str, Any]], faults: Mapping[str, Any]) -> None:
    for index in targets(faults, "malformed_rows", len(rows)):
        rows[index].pop("longitude", None)  # a Position requires latitude and longitude
    for index in targets(faults, "out_of_range", len(rows)):
        rows[index]["latitude"], rows[index]["longitude"] = OUTSIDE_PROVINCE
    for index in targets(faults, "unknown_codes", len(rows)):
        rows[index]["route_id"] = UNKNOWN_ROUTE
    for index in reversed(targets(faults, "duplicate_rows", len(rows))):
        rows.insert(index + 1, dict(rows[index]))
    missing = faults.get("missing_column")
    if missing:
        for row in rows:
            row.pop(missing, None)


# --------------------------------------------------------------------------- shapes

MINIMAL = "minimal"
_MINIMAL_TRIP_DROPS = ("trip_id", "vehicle_id", "trip_update_timestamp")
_MINIMAL_STOP_KEEPS = ("stop_id", "arrival_time")
_MINIMAL_VEHICLE_KEEPS = ("entity_id", "vehicle_id", "latitude", "longitude")


def trip_updates_body(rows: list[dict[str, Any]], timestamp: int, data: Mapping[str, Any]) -> bytes:
    """The TripUpdates FeedMessage of ``rows``, with the data faults and the shape applied."""
    fault_trip_rows(rows, data)
    minimal = data.get("shape") == MINIMAL
    if minimal:
        for row in rows:
            for name in _MINIMAL_TRIP_DROPS:
                row.pop(name, None)
            row["schedule_relationship"] = None
            row["stops"] = [
                {name: stop[name] for name in _MINIMAL_STOP_KEEPS if name in stop}
                | {"schedule_relationship": None}
                for stop in row["stops"]
            ]
    return encode_trip_updates(rows, timestamp, full_dataset=not minimal)


def vehicle_positions_body(
    rows: list[dict[str, Any]], timestamp: int, data: Mapping[str, Any]
) -> bytes:
    """The VehiclePositions FeedMessage of ``rows``, with the data faults and the shape applied."""
    fault_vehicle_rows(rows, data)
    minimal = data.get("shape") == MINIMAL
    if minimal:
        rows = [{k: row[k] for k in _MINIMAL_VEHICLE_KEEPS if k in row} for row in rows]
    return encode_vehicle_positions(rows, timestamp, full_dataset=not minimal)


# --------------------------------------------------------------------------- protobuf


def _feed(timestamp: int, full_dataset: bool = True) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    if full_dataset:  # absent means FULL_DATASET too: the minimal shape leaves it out
        message.header.incrementality = rt.FeedHeader.FULL_DATASET
    message.header.timestamp = timestamp
    return message


def _trip_descriptor(descriptor: rt.TripDescriptor, row: Mapping[str, Any]) -> None:
    for name in ("trip_id", "route_id", "direction_id", "start_date", "start_time"):
        if row.get(name) is not None:
            setattr(descriptor, name, row[name])


_SCHEDULED = rt.TripUpdate.StopTimeUpdate.SCHEDULED
_EVENT_FIELDS = tuple(
    (event, (f"{event}_time", f"{event}_delay", f"{event}_uncertainty"))
    for event in ("arrival", "departure")
)


def encode_trip_updates(
    rows: list[dict[str, Any]], timestamp: int, *, full_dataset: bool = True
) -> bytes:
    """Rows as a TripUpdates FeedMessage; a schedule relationship is SCHEDULED unless the row
    (or stop) sets ``schedule_relationship`` to ``None`` (left out)."""
    message = _feed(timestamp, full_dataset)
    for row in rows:
        entity = message.entity.add()
        entity.id = row.get("entity_id", row.get("trip_id", ""))
        update = entity.trip_update
        _trip_descriptor(update.trip, row)
        if row.get("schedule_relationship", "SCHEDULED") is not None:
            update.trip.schedule_relationship = rt.TripDescriptor.SCHEDULED
        if row.get("vehicle_id"):
            update.vehicle.id = row["vehicle_id"]
        if row.get("trip_update_timestamp") is not None:
            update.timestamp = row["trip_update_timestamp"]
        add = update.stop_time_update.add
        for stop in row["stops"]:  # a year's archive has millions: fields are set one by one
            out, get = add(), stop.get
            if (value := get("stop_sequence")) is not None:
                out.stop_sequence = value
            if (value := get("stop_id")) is not None:
                out.stop_id = value
            for name, (time_key, delay_key, uncertainty_key) in _EVENT_FIELDS:
                time, delay, uncertainty = get(time_key), get(delay_key), get(uncertainty_key)
                if time is None and delay is None and uncertainty is None:
                    continue  # no event: leave it unset
                event = getattr(out, name)
                if time is not None:
                    event.time = time
                if delay is not None:
                    event.delay = delay
                if uncertainty is not None:
                    event.uncertainty = uncertainty
            if get("schedule_relationship", "SCHEDULED") is not None:
                out.schedule_relationship = _SCHEDULED
    return message.SerializePartialToString()


def encode_vehicle_positions(
    rows: list[dict[str, Any]], timestamp: int, *, full_dataset: bool = True
) -> bytes:
    message = _feed(timestamp, full_dataset)
    for row in rows:
        entity = message.entity.add()
        entity.id = row.get("entity_id", "")
        vehicle = entity.vehicle
        if row.get("trip_id") or row.get("route_id"):
            _trip_descriptor(vehicle.trip, row)
        if row.get("vehicle_id"):
            vehicle.vehicle.id = row["vehicle_id"]
        if row.get("vehicle_label"):
            vehicle.vehicle.label = row["vehicle_label"]
        for name in ("latitude", "longitude", "bearing", "speed"):
            if row.get(name) is not None:
                setattr(vehicle.position, name, row[name])
        for name in ("current_stop_sequence", "stop_id"):
            if row.get(name) is not None:
                setattr(vehicle, name, row[name])
        if row.get("current_status"):
            vehicle.current_status = rt.VehiclePosition.VehicleStopStatus.Value(
                row["current_status"]
            )
        if row.get("position_timestamp") is not None:
            vehicle.timestamp = row["position_timestamp"]
    return message.SerializePartialToString()
