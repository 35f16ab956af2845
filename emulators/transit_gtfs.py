"""KKTS network and timetable, and the GTFS static zip the transit emulator serves.

The network is fixed: the LRT Red Line (route_type 0) runs Samran → Sila → city centre → Tha Phra
along Mittraphap Road, and five city bus / songthaew routes (route_type 3) reach all six
municipalities. Each stop's ``zone_id`` is its municipality id. Two services: ``WD`` (Monday to
Friday) and ``WE`` (weekends). Evening LRT trips and the airport bus run past midnight, so
``stop_times.txt`` holds times such as ``24:35:00`` and ``25:05:00``.

The timetable is plain data (no randomness), so the GTFS-RT and ridership emulators can build on
the very same trips, stop sequences and routes.

``shape`` (data knob; absent = the KKTS feed as it is):

- ``minimal``: only what the GTFS reference requires: agency, routes, stops, trips, stop_times
  and ``calendar_dates.txt`` (one ``exception_type`` 1 row per service day of the feed's
  validity) instead of ``calendar.txt``; no ``feed_info.txt``; only required (and, for stops and
  stop times, conditionally required) columns, so no ``agency_id`` (a single agency).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

AGENCY_ID = "KKTS"
SERVICE_DAYS = {"WD": (1, 1, 1, 1, 1, 0, 0), "WE": (0, 0, 0, 0, 0, 1, 1)}
OUTSIDE_PROVINCE = (13.7563, 100.5018)  # Bangkok: a coordinate no Khon Kaen source may report


@dataclass(frozen=True)
class Stop:
    stop_id: str
    name_th: str
    name_en: str
    municipality_id: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Route:
    route_id: str
    short_name: str
    long_name: str
    desc: str
    route_type: int
    color: str
    stop_ids: tuple[str, ...]  # direction 0; direction 1 runs them backwards
    speed_kmh: float
    dwell_seconds: int
    # per service: (first departure, end of band, headway), in minutes after service-day midnight
    bands: Mapping[str, tuple[tuple[int, int, int], ...]]


@dataclass(frozen=True)
class StopTime:
    stop_sequence: int
    stop_id: str
    arrival: int  # seconds after service-day midnight, may exceed 86 400
    departure: int


@dataclass(frozen=True)
class Trip:
    trip_id: str
    route_id: str
    service_id: str
    direction_id: int
    headsign: str
    vehicle_id: str
    stop_times: tuple[StopTime, ...]

    @property
    def start(self) -> int:
        return self.stop_times[0].departure

    @property
    def end(self) -> int:
        return self.stop_times[-1].arrival


def _stop(stop_id: str, th: str, en: str, municipality: str, lat: float, lon: float) -> Stop:
    return Stop(stop_id, th, en, municipality, lat, lon)


STOPS: tuple[Stop, ...] = (
    _stop("L01", "สถานีสำราญ", "Samran", "samran", 16.5200, 102.8480),
    _stop("L02", "สถานีบ้านโคก", "Ban Khok", "samran", 16.5060, 102.8420),
    _stop("L03", "สถานีศิลา", "Sila", "sila", 16.4930, 102.8350),
    _stop("L04", "สถานีบ้านโนนม่วง", "Ban Non Muang", "sila", 16.4810, 102.8290),
    _stop("L05", "สถานีมหาวิทยาลัยขอนแก่น", "Khon Kaen University", "sila", 16.4700, 102.8250),
    _stop("L06", "สถานีสามเหลี่ยม", "Sam Liam", "khon_kaen_city", 16.4570, 102.8240),
    _stop("L07", "สถานีประตูน้ำ", "Pratunam", "khon_kaen_city", 16.4450, 102.8230),
    _stop("L08", "สถานีเซ็นทรัล", "Central", "khon_kaen_city", 16.4340, 102.8250),
    _stop("L09", "สถานีขนส่ง", "Bus Terminal", "khon_kaen_city", 16.4240, 102.8270),
    _stop("L10", "สถานีรถไฟขอนแก่น", "Khon Kaen Railway", "khon_kaen_city", 16.4130, 102.8300),
    _stop("L11", "สถานีศูนย์ราชการ", "Government Centre", "khon_kaen_city", 16.3990, 102.8220),
    _stop("L12", "สถานีบ้านกอก", "Ban Kok", "tha_phra", 16.3760, 102.8150),
    _stop("L13", "สถานีหนองไผ่", "Nong Phai", "tha_phra", 16.3540, 102.8080),
    _stop("L14", "สถานีท่าพระ", "Tha Phra", "tha_phra", 16.3320, 102.8010),
    _stop("KK01", "ศาลหลักเมือง", "City Pillar Shrine", "khon_kaen_city", 16.4290, 102.8360),
    _stop("KK02", "บึงแก่นนคร", "Bueng Kaen Nakhon", "khon_kaen_city", 16.4140, 102.8380),
    _stop("KK03", "ตลาดบางลำภู", "Bang Lamphu Market", "khon_kaen_city", 16.4300, 102.8290),
    _stop("KK04", "โรงพยาบาลขอนแก่น", "Khon Kaen Hospital", "khon_kaen_city", 16.4310, 102.8450),
    _stop("KK05", "ถนนศรีจันทร์", "Si Chan Road", "khon_kaen_city", 16.4320, 102.8400),
    _stop("KK06", "สถานีขนส่งผู้โดยสาร 3", "Bus Terminal 3", "khon_kaen_city", 16.4250, 102.8250),
    _stop("KK07", "ตลาดต้นตาล", "Ton Tann Market", "khon_kaen_city", 16.4180, 102.8500),
    _stop("SL01", "โรงพยาบาลศรีนครินทร์", "Srinagarind Hospital", "sila", 16.4660, 102.8310),
    _stop("SL02", "ประตูมหาวิทยาลัยขอนแก่น", "KKU Main Gate", "sila", 16.4720, 102.8200),
    _stop("SL03", "ตลาดศิลา", "Sila Market", "sila", 16.4870, 102.8170),
    _stop("SR01", "วัดสำราญ", "Wat Samran", "samran", 16.5150, 102.8560),
    _stop("SR02", "ตลาดสำราญ", "Samran Market", "samran", 16.5240, 102.8530),
    _stop("BP01", "บึงหนองโคตร", "Bueng Nong Khot", "ban_pet", 16.4250, 102.7950),
    _stop("BP02", "ตลาดบ้านเป็ด", "Ban Pet Market", "ban_pet", 16.4390, 102.7830),
    _stop("BP03", "ท่าอากาศยานขอนแก่น", "Khon Kaen Airport", "ban_pet", 16.4660, 102.7840),
    _stop("BT01", "แยกบ้านทุ่ม", "Ban Thum Junction", "ban_thum", 16.4470, 102.7450),
    _stop("BT02", "วัดบ้านทุ่ม", "Wat Ban Thum", "ban_thum", 16.4540, 102.7310),
    _stop("BT03", "ตลาดบ้านทุ่ม", "Ban Thum Market", "ban_thum", 16.4500, 102.7200),
    _stop("TP01", "สถานีรถไฟท่าพระ", "Tha Phra Railway", "tha_phra", 16.3380, 102.8030),
    _stop("TP02", "ตลาดท่าพระ", "Tha Phra Market", "tha_phra", 16.3310, 102.8070),
)
STOPS_BY_ID = {stop.stop_id: stop for stop in STOPS}

_CITY_BUS = {"WD": ((360, 1261, 20),), "WE": ((390, 1231, 30),)}
_SONGTHAEW = {"WD": ((360, 1201, 15),), "WE": ((420, 1201, 20),)}


def _route(route_id: str, route_type: int, short: str, long: str, desc: str, **rest: Any) -> Route:
    return Route(route_id, short, long, desc, route_type, **rest)


ROUTES: tuple[Route, ...] = (
    _route(
        "LRT1", 0, "LRT", "สำราญ – ท่าพระ (สายสีแดง)",
        "Red Line: Samran – city centre – Tha Phra along Mittraphap Road",
        color="D7262E", stop_ids=tuple(f"L{n:02d}" for n in range(1, 15)),
        speed_kmh=45.0, dwell_seconds=30,
        bands={
            "WD": ((330, 420, 10), (420, 540, 8), (540, 960, 12), (960, 1140, 8), (1140, 1441, 15)),
            "WE": ((360, 1441, 15),),
        },
    ),
    _route(
        "B10", 3, "10", "ขนส่ง 3 – บ้านเป็ด – บ้านทุ่ม", "City bus: Bus Terminal 3 – Ban Pet – Ban Thum",
        color="0072BC", stop_ids=("KK06", "KK03", "BP01", "BP02", "BT01", "BT02", "BT03"),
        speed_kmh=25.0, dwell_seconds=0, bands=_CITY_BUS,
    ),
    _route(
        "B20", 3, "20", "ขนส่ง 3 – มข. – ศิลา – สำราญ",
        "City bus: Bus Terminal 3 – KKU – Sila – Samran",
        color="00A651", stop_ids=("KK06", "KK04", "SL01", "SL02", "SL03", "SR01", "SR02"),
        speed_kmh=25.0, dwell_seconds=0, bands=_CITY_BUS,
    ),
    _route(
        "S30", 3, "30", "บึงแก่นนคร – ท่าพระ", "Songthaew: Bueng Kaen Nakhon – Tha Phra",
        color="F7941D", stop_ids=("KK02", "KK07", "TP01", "TP02"),
        speed_kmh=25.0, dwell_seconds=0, bands=_SONGTHAEW,
    ),
    _route(
        "S40", 3, "40", "รอบเมืองขอนแก่น", "Songthaew: city centre circular",
        color="8DC63F", stop_ids=("KK01", "KK05", "KK04", "KK03", "KK02"),
        speed_kmh=18.0, dwell_seconds=0, bands=_SONGTHAEW,
    ),
    _route(
        "A1", 3, "A1", "ท่าอากาศยานขอนแก่น – ตัวเมือง", "Airport bus: Khon Kaen Airport – city centre",
        color="662D91", stop_ids=("BP03", "BP02", "KK03", "KK01", "KK06"),
        speed_kmh=22.0, dwell_seconds=0,
        bands={"WD": ((360, 1471, 30),), "WE": ((360, 1471, 30),)},
    ),
)  # fmt: skip
ROUTES_BY_ID = {route.route_id: route for route in ROUTES}


def distance_km(a: Stop, b: Stop) -> float:
    """Great-circle distance, good enough for run times and positions."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def service_id(day: date) -> str:
    return "WD" if day.weekday() < 5 else "WE"


def hms(seconds: int) -> str:
    """GTFS time text: hours may pass 24 for trips after midnight."""
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _run_times(route: Route, stop_ids: tuple[str, ...]) -> list[int]:
    """Seconds from one stop to the next, rounded to 30 s, at least a minute."""
    stops = [STOPS_BY_ID[s] for s in stop_ids]
    return [
        max(60, round(distance_km(a, b) * 1.25 / route.speed_kmh * 3600 / 30) * 30)
        for a, b in itertools.pairwise(stops)
    ]


@cache
def trips() -> tuple[Trip, ...]:
    """Every trip of both services, in route, service, direction, departure order."""
    result = []
    for route in ROUTES:
        for service, bands in route.bands.items():
            for direction in (0, 1):
                stop_ids = route.stop_ids if direction == 0 else route.stop_ids[::-1]
                runs = _run_times(route, stop_ids)
                starts = [m for first, end, step in bands for m in range(first, end, step)]
                headway = min(step for _, _, step in bands) * 60
                fleet = math.ceil((sum(runs) + len(runs) * route.dwell_seconds + 900) / headway) + 1
                for number, minute in enumerate(starts):
                    times, clock = [], minute * 60
                    for index, stop_id in enumerate(stop_ids):
                        if index:
                            clock += runs[index - 1]
                        dwell = route.dwell_seconds if 0 < index < len(stop_ids) - 1 else 0
                        times.append(StopTime(index + 1, stop_id, clock, clock + dwell))
                        clock += dwell
                    result.append(
                        Trip(
                            trip_id=f"{route.route_id}_{service}_{direction}_{minute // 60:02d}"
                            f"{minute % 60:02d}",
                            route_id=route.route_id,
                            service_id=service,
                            direction_id=direction,
                            headsign=STOPS_BY_ID[stop_ids[-1]].name_th,
                            vehicle_id=f"KKTS-{route.route_id}-{direction}{number % fleet + 1:02d}",
                            stop_times=tuple(times),
                        )
                    )
    return tuple(result)


def trips_on(day: date) -> list[Trip]:
    service = service_id(day)
    return [trip for trip in trips() if trip.service_id == service]


def feed_window(today: date, first_day: date) -> tuple[date, date]:
    """The feed's validity: whole calendar years, so the zip stays byte-identical all year."""
    return date(first_day.year, 1, 1), date(today.year + 1, 12, 31)


# --------------------------------------------------------------------------- the zip


def feed_files(today: date, first_day: date) -> dict[str, list[dict[str, Any]]]:
    """The GTFS files as rows (dicts in column order), before faults and CSV."""
    start, end = feed_window(today, first_day)
    agency = [
        {
            "agency_id": AGENCY_ID,
            "agency_name": "บริษัท ขอนแก่น ทรานสิท ซิสเต็ม จำกัด (KKTS)",
            "agency_url": "https://www.kkts.example/",
            "agency_timezone": "Asia/Bangkok",
            "agency_lang": "th",
            "agency_phone": "043-000-000",
        }
    ]
    routes = [
        {
            "route_id": r.route_id,
            "agency_id": AGENCY_ID,
            "route_short_name": r.short_name,
            "route_long_name": r.long_name,
            "route_desc": r.desc,
            "route_type": r.route_type,
            "route_color": r.color,
            "route_text_color": "FFFFFF",
        }
        for r in ROUTES
    ]
    stops = [
        {
            "stop_id": s.stop_id,
            "stop_code": s.stop_id,
            "stop_name": s.name_th,
            "stop_desc": s.name_en,
            "stop_lat": f"{s.lat:.6f}",
            "stop_lon": f"{s.lon:.6f}",
            "zone_id": s.municipality_id,
            "location_type": 0,
            "wheelchair_boarding": 1 if s.stop_id.startswith("L") else 0,
        }
        for s in STOPS
    ]
    all_trips = trips()
    trip_rows = [
        {
            "route_id": t.route_id,
            "service_id": t.service_id,
            "trip_id": t.trip_id,
            "trip_headsign": t.headsign,
            "direction_id": t.direction_id,
            "wheelchair_accessible": 1 if t.route_id == "LRT1" else 2,
        }
        for t in all_trips
    ]
    stop_times = [
        {
            "trip_id": t.trip_id,
            "arrival_time": hms(st.arrival),
            "departure_time": hms(st.departure),
            "stop_id": st.stop_id,
            "stop_sequence": st.stop_sequence,
            "pickup_type": 1 if st.stop_sequence == len(t.stop_times) else 0,
            "drop_off_type": 1 if st.stop_sequence == 1 else 0,
            "timepoint": 1,
        }
        for t in all_trips
        for st in t.stop_times
    ]
    calendar = [
        {
            "service_id": service,
            **dict(
                zip(
                    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
                    days,
                    strict=True,
                )
            ),
            "start_date": f"{start:%Y%m%d}",
            "end_date": f"{end:%Y%m%d}",
        }
        for service, days in SERVICE_DAYS.items()
    ]
    feed_info = [
        {
            "feed_publisher_name": "Khon Kaen Transit System (KKTS)",
            "feed_publisher_url": "https://www.kkts.example/",
            "feed_lang": "th",
            "default_lang": "th",
            "feed_start_date": f"{start:%Y%m%d}",
            "feed_end_date": f"{end:%Y%m%d}",
            "feed_version": f"{start:%Y}.1",
            "feed_contact_email": "gtfs@kkts.example",
        }
    ]
    return {
        "agency.txt": agency,
        "routes.txt": routes,
        "stops.txt": stops,
        "trips.txt": trip_rows,
        "stop_times.txt": stop_times,
        "calendar.txt": calendar,
        "feed_info.txt": feed_info,
    }


_PHASES = {"malformed_rows": 0.5, "out_of_range": 0.3, "unknown_codes": 0.7, "duplicate_rows": 0.1}


def targets(faults: Mapping[str, Any], fault: str, total: int) -> list[int]:
    """The row positions a counted data fault hits: spread evenly over ``total`` rows.

    Each fault has its own phase, so different faults set together hit different rows.
    """
    count = max(0, min(int(faults.get(fault, 0)), total))
    return [int((i + _PHASES[fault]) * total / count) for i in range(count)]


def apply_faults(files: dict[str, list[dict[str, Any]]], faults: Mapping[str, Any]) -> None:
    """Apply the data faults to the feed's rows, in place."""
    stop_times, stops, routes = files["stop_times.txt"], files["stops.txt"], files["routes.txt"]
    for number, index in enumerate(targets(faults, "malformed_rows", len(stop_times))):
        if number % 2 == 0 or not stops:
            stop_times[index]["arrival_time"] = "n/a"
        else:
            stops[index % len(stops)]["stop_lat"] = "n/a"
    for index in targets(faults, "out_of_range", len(stops)):
        stops[index]["stop_lat"], stops[index]["stop_lon"] = OUTSIDE_PROVINCE
    for index in targets(faults, "unknown_codes", len(routes)):
        routes[index]["route_type"] = 42
    for index in reversed(targets(faults, "duplicate_rows", len(stop_times))):
        stop_times.insert(index + 1, dict(stop_times[index]))
    missing = faults.get("missing_column")
    if missing:
        for rows in files.values():
            for row in rows:
                row.pop(missing, None)


def write_zip(files: Mapping[str, Iterable[dict[str, Any]]], stamp: date) -> bytes:
    """A zip of CSV files; fixed member dates so equal content gives equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in files.items():
            rows = list(rows)
            text = io.StringIO()
            if rows:
                writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\r\n")
                writer.writeheader()
                writer.writerows(rows)
            info = zipfile.ZipInfo(name, date_time=(stamp.year, stamp.month, stamp.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.getvalue().encode("utf-8"))
    return buffer.getvalue()


MINIMAL = "minimal"
_MINIMAL_COLUMNS = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "routes.txt": ("route_id", "route_short_name", "route_type"),
    "stops.txt": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
}


def minimal_files(
    files: Mapping[str, list[dict[str, Any]]], today: date, first_day: date
) -> dict[str, list[dict[str, Any]]]:
    """The ``minimal`` shape of the feed: required files and columns, service by date."""
    shaped = {
        name: [{c: row[c] for c in columns if c in row} for row in files[name]]
        for name, columns in _MINIMAL_COLUMNS.items()
    }
    start, end = feed_window(today, first_day)
    shaped["calendar_dates.txt"] = [
        {"service_id": service_id(day), "date": f"{day:%Y%m%d}", "exception_type": 1}
        for day in (start + timedelta(days=n) for n in range((end - start).days + 1))
    ]
    return shaped


def gtfs_zip(today: date, first_day: date, faults: Mapping[str, Any]) -> bytes:
    """The feed's zip, data faults then ``shape`` applied (see the module docstring)."""
    files = feed_files(today, first_day)
    apply_faults(files, faults)
    if faults.get("shape") == MINIMAL:
        files = minimal_files(files, today, first_day)
    return write_zip(files, feed_window(today, first_day)[0])
