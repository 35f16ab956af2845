"""KKTS, the Khon Kaen transit company: GTFS static, GTFS-Realtime and the ticketing API.

Endpoints (all GET):

- ``/gtfs/kkts-gtfs.zip``: GTFS static feed (agency, routes, stops, trips, stop_times, calendar,
  feed_info), UTF-8, byte-identical for the whole calendar year (see :mod:`emulators.transit_gtfs`).
- ``/gtfs-rt/trip-updates.pb``, ``/gtfs-rt/vehicle-positions.pb``: GTFS-Realtime (protobuf,
  FULL_DATASET) for the emulated service day ``clock.today`` at the current wall-clock time of day
  in Asia/Bangkok; the header timestamp moves with the clock. TripUpdates list every trip under
  way or finished today (including yesterday's trips that ran past midnight) with one
  StopTimeUpdate per stop; VehiclePositions list every vehicle on a trip plus one spare bus with
  no trip (deadheading).
- ``/gtfs-rt/archive/<YYYY-MM>.zip``: the month's history, a zip holding the end-of-day
  TripUpdates FeedMessage (header time 02:00 the next morning) of every service day of that month
  that has ended and lies in the emulated history, as ``<YYYY-MM-DD>/trip-updates.pb``; 404 for a
  month with no such day. The current month's zip grows day by day; equal days, equal bytes.
- ``/api/v1/municipalities``: ``{"data": [{"municipality_id", "name_th", "name_en"}]}``.
- ``/api/v1/ridership?municipality_id=&from=&to=&page=&page_size=``: daily tap-ins,
  ``{"data": [...], "meta": {"page", "page_size", "total", "total_pages"},
  "links": {"next": url | null}}``; pages are 1-based, ``page_size`` at most 1000 (default 100).

Data faults honoured (``emulator.faults.data``):

- ``malformed_rows`` N: GTFS: N stop_times rows with ``arrival_time`` "n/a" and stops with
  ``stop_lat`` "n/a" (alternately); GTFS-RT: N StopTimeUpdates with neither ``stop_sequence``
  nor ``stop_id`` and N vehicles whose position has no ``longitude`` (both forbidden by the
  reference); ridership: N rows per page with ``tap_ins`` "n/a" or without ``route_id``
  (alternately).
- ``out_of_range`` N: GTFS: N stops in Bangkok; GTFS-RT: N arrivals two hours early, N vehicles in
  Bangkok; ridership: N negative ``tap_ins`` per page.
- ``duplicate_rows`` N: N stop_times rows / StopTimeUpdates / vehicles / ridership rows repeated.
- ``unknown_codes`` N: ``route_type`` 42 in routes.txt; stop_id ``ZZ999`` in TripUpdates and
  route_id ``ZZ99`` in VehiclePositions; fare_product ``tourist_pass`` in ridership.
- ``missing_column`` name: that column/field dropped everywhere (a GTFS column, a GTFS-RT field
  named like the raw table's column, e.g. ``stop_sequence``, or a ridership field).
- ``stale_feed`` true: GTFS-RT header and content freeze at the first request after the knob is
  set (until it is cleared); ridership data stops three days before yesterday. Not applicable to
  the GTFS static snapshot.

Other valid shapes (data knob ``shape``; absent = the KKTS system as it is):

- ``minimal``: GTFS: only the files and columns the GTFS reference requires, with
  ``calendar_dates.txt`` listing every service day instead of ``calendar.txt`` (see
  :mod:`emulators.transit_gtfs`); GTFS-RT: TripUpdates by route (no ``trip_id``) with
  StopTimeUpdates by ``stop_id`` and arrival time only, VehiclePositions with only a vehicle id
  and a position, no timestamps (see :mod:`emulators.transit_gtfs_rt`). Ridership is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta

from emulators.server import Emulator, Request, Response, json_response
from emulators.synthetic import BANGKOK, MUNICIPALITIES, Clock
from emulators.transit_gtfs import gtfs_zip
from emulators.transit_gtfs_rt import (
    archive_zip,
    live_trip_rows,
    midnight,
    trip_updates_body,
    vehicle_positions_body,
    vehicle_rows,
)
from emulators.transit_ridership import apply_faults, day_rows

PROTOBUF = "application/x-protobuf"
MAX_PAGE_SIZE = 1000
STALE_LAG_DAYS = 3


def _bangkok_now() -> datetime:
    return datetime.now(BANGKOK)


def build(
    clock: Clock, port: int = 0, *, wall_clock: Callable[[], datetime] = _bangkok_now
) -> Emulator:
    """The KKTS emulator (not started); ``wall_clock`` gives the time of day for GTFS-RT."""
    frozen: dict[str, int] = {}

    def now() -> int:
        """Seconds after the emulated day's midnight; frozen while ``stale_feed`` is set."""
        moment = wall_clock().astimezone(BANGKOK)
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
        if not emulator.faults.data.get("stale_feed"):
            frozen.clear()
            return seconds
        return frozen.setdefault("now", seconds)

    def gtfs(_: Request) -> Response:
        body = gtfs_zip(clock.today, clock.first_day, emulator.faults.data)
        return Response(body=body, content_type="application/zip")

    def trip_updates(_: Request) -> Response:
        seconds = now()
        rows = live_trip_rows(clock.today, seconds)
        body = trip_updates_body(rows, midnight(clock.today) + seconds, emulator.faults.data)
        return Response(body=body, content_type=PROTOBUF)

    def vehicle_positions(_: Request) -> Response:
        seconds = now()
        rows = vehicle_rows(clock.today, seconds)
        body = vehicle_positions_body(rows, midnight(clock.today) + seconds, emulator.faults.data)
        return Response(body=body, content_type=PROTOBUF)

    def archive(request: Request) -> Response:
        assert request.match is not None
        month = request.match["month"]
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            return json_response({"error": "month must be YYYY-MM"}, status=400)
        following = (first + timedelta(days=31)).replace(day=1)
        days = [day for day in clock.days() if first <= day < following]  # the month's past days
        if not days:
            return json_response({"error": f"no archive for {month}"}, status=404)
        body = archive_zip(days, emulator.faults.data)
        return Response(body=body, content_type="application/zip")

    def municipalities(_: Request) -> Response:
        return json_response(
            {
                "data": [
                    {
                        "municipality_id": m.municipality_id,
                        "name_th": m.name_th,
                        "name_en": m.name_en,
                    }
                    for m in MUNICIPALITIES
                ]
            }
        )

    def ridership(request: Request) -> Response:
        query = request.query
        known = {m.municipality_id for m in MUNICIPALITIES}
        municipality_id = query.get("municipality_id", "")
        if municipality_id not in known:
            return json_response({"error": f"unknown municipality_id {municipality_id!r}"}, 404)
        try:
            first = date.fromisoformat(query["from"])
            last = date.fromisoformat(query["to"])
            page = int(query.get("page", 1))
            size = min(int(query.get("page_size", 100)), MAX_PAGE_SIZE)
        except (KeyError, ValueError) as error:
            return json_response({"error": f"bad query: {error}"}, status=400)
        if page < 1 or size < 1:
            return json_response({"error": "page and page_size must be positive"}, status=400)
        newest = clock.last_day
        if emulator.faults.data.get("stale_feed"):
            newest -= timedelta(days=STALE_LAG_DAYS)
        day, rows = max(first, clock.first_day), []
        while day <= min(last, newest):
            rows.extend(day_rows(day, municipality_id))
            day += timedelta(days=1)
        total_pages = math.ceil(len(rows) / size)
        data = [dict(row) for row in rows[(page - 1) * size : page * size]]
        apply_faults(data, emulator.faults.data)
        params = {**query, "page": page + 1, "page_size": size}
        return json_response(
            {
                "data": data,
                "meta": {
                    "page": page,
                    "page_size": size,
                    "total": len(rows),
                    "total_pages": total_pages,
                },
                "links": {
                    "next": request.url_for(request.path, params) if page < total_pages else None
                },
            }
        )

    emulator = Emulator(
        "transit",
        routes={
            r"/gtfs/kkts-gtfs\.zip": gtfs,
            r"/gtfs-rt/trip-updates\.pb": trip_updates,
            r"/gtfs-rt/vehicle-positions\.pb": vehicle_positions,
            r"/gtfs-rt/archive/(?P<month>[^/]+)\.zip": archive,
            r"/api/v1/municipalities": municipalities,
            r"/api/v1/ridership": ridership,
        },
        port=port,
    )
    return emulator
