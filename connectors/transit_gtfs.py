"""KKTS GTFS static feed: one zip, a full snapshot each time, no watermark.

``parse`` loads any valid GTFS zip, not only the KKTS one: UTF-8 with or without BOM, quoted
fields, any column order, unknown columns ignored, optional columns absent (null), members at the
root or in a single top-level folder, and every optional file absent: shapes, frequencies, fares
and the others are not loaded anyway; ``feed_info.txt`` and either one of ``calendar.txt`` and
``calendar_dates.txt`` (the reference requires one of the two) may be missing. A file that is
absent gives no rows, so loading the feed (``SNAPSHOT``) empties its table: no row of an earlier
feed lingers.

What the GTFS reference forbids raises :class:`ParseError`, one line naming the file, the rule
and the fix: not a zip; a required file missing (agency, routes, trips, stops, stop_times; or
both calendar files); a required column missing from a file's header (e.g. ``stop_sequence`` in
``stop_times.txt``; ``agency_id`` in an ``agency.txt`` listing several agencies); a file without
header line; a member that cannot be read; CSV that does not parse. A bad row becomes a reject
naming file, line and column; every typed row keeps its 1-based position among its file's records
under ``_row``.

``check_kind`` refuses a received file that is plainly no GTFS feed (not a zip, or a zip without
any ``.txt`` member) before it is landed.

Columns the GTFS reference makes *conditionally* required, and that every feed of stops served by
vehicles has (``stops.txt``: ``stop_name``, ``stop_lat``, ``stop_lon``; ``stop_times.txt``:
``stop_id``, ``arrival_time``, ``departure_time``), do not fail the parse when absent: they are
named in ``Parsed.missing`` (schema drift) and typed null, and the table's suite, which expects
them to exist, sets the whole feed aside.

``FRESHNESS`` is ``None``: a timetable has no event time (its calendar runs into the future), so
the dataset is as fresh as the last feed that changed it; the suite ``transit_gtfs_calendar``
warns when the feed's regular service has run out.

Conversions done here, once:

- GTFS times (``arrival_time``, ``departure_time``, booking windows) stay text exactly as given,
  and gain ``<field>_seconds`` (BIGINT, seconds after service-day midnight; ``25:05:00`` → 90300);
- GTFS dates (``YYYYMMDD``) become DATE;
- a single-agency feed may omit ``agency_id``: it is then filled with ``agency_name`` (the key
  must not be null). ``routes.agency_id`` stays as given.

Files other than the ones in ``TABLES`` (shapes, frequencies, fares, …) are ignored.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from connectors.base import (
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

DATASET = "transit.gtfs"
DEFAULT_PATH = "/gtfs/kkts-gtfs.zip"
REFERENCE = "GTFS Schedule reference"
TAKES = f"{DATASET} takes a GTFS static feed (.zip with agency.txt, stops.txt, ...)"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip
_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError)

TIME_FIELDS = (
    "arrival_time",
    "departure_time",
    "start_pickup_drop_off_window",
    "end_pickup_drop_off_window",
)
DATE_FIELDS = ("start_date", "end_date", "date", "feed_start_date", "feed_end_date")
_TIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


@dataclass(frozen=True)
class GtfsFile:
    """A GTFS file and the raw table it fills."""

    file: str
    table: Table
    required_columns: tuple[str, ...]
    required: bool = True
    expected_columns: tuple[str, ...] = ()  # conditionally required: absent → ``Parsed.missing``


def _table(name: str, key: tuple[str, ...], **columns: str) -> Table:
    return Table(f"transit_gtfs_{name}", columns, key)


V, B, D, DT = "VARCHAR", "BIGINT", "DOUBLE", "DATE"

AGENCY = _table(
    "agency",
    ("agency_id",),
    agency_id=V,
    agency_name=V,
    agency_url=V,
    agency_timezone=V,
    agency_lang=V,
    agency_phone=V,
    agency_fare_url=V,
    agency_email=V,
    cemv_support=B,
)
ROUTES = _table(
    "routes",
    ("route_id",),
    route_id=V,
    agency_id=V,
    route_short_name=V,
    route_long_name=V,
    route_desc=V,
    route_type=B,
    route_url=V,
    route_color=V,
    route_text_color=V,
    route_sort_order=B,
    continuous_pickup=B,
    continuous_drop_off=B,
    network_id=V,
    cemv_support=B,
)
TRIPS = _table(
    "trips",
    ("trip_id",),
    route_id=V,
    service_id=V,
    trip_id=V,
    trip_headsign=V,
    trip_short_name=V,
    direction_id=B,
    block_id=V,
    shape_id=V,
    wheelchair_accessible=B,
    bikes_allowed=B,
    cars_allowed=B,
)
STOPS = _table(
    "stops",
    ("stop_id",),
    stop_id=V,
    stop_code=V,
    stop_name=V,
    tts_stop_name=V,
    stop_desc=V,
    stop_lat=D,
    stop_lon=D,
    zone_id=V,
    stop_url=V,
    location_type=B,
    parent_station=V,
    stop_timezone=V,
    wheelchair_boarding=B,
    level_id=V,
    platform_code=V,
    stop_access=B,
)
STOP_TIMES = _table(
    "stop_times",
    ("trip_id", "stop_sequence"),
    trip_id=V,
    arrival_time=V,
    arrival_time_seconds=B,
    departure_time=V,
    departure_time_seconds=B,
    stop_id=V,
    location_group_id=V,
    location_id=V,
    stop_sequence=B,
    stop_headsign=V,
    start_pickup_drop_off_window=V,
    start_pickup_drop_off_window_seconds=B,
    end_pickup_drop_off_window=V,
    end_pickup_drop_off_window_seconds=B,
    pickup_type=B,
    drop_off_type=B,
    continuous_pickup=B,
    continuous_drop_off=B,
    shape_dist_traveled=D,
    timepoint=B,
    pickup_booking_rule_id=V,
    drop_off_booking_rule_id=V,
)
CALENDAR = _table(
    "calendar",
    ("service_id",),
    service_id=V,
    monday=B,
    tuesday=B,
    wednesday=B,
    thursday=B,
    friday=B,
    saturday=B,
    sunday=B,
    start_date=DT,
    end_date=DT,
)
CALENDAR_DATES = _table(
    "calendar_dates", ("service_id", "date"), service_id=V, date=DT, exception_type=B
)
FEED_INFO = _table(
    "feed_info",
    ("feed_publisher_name",),
    feed_publisher_name=V,
    feed_publisher_url=V,
    feed_lang=V,
    default_lang=V,
    feed_start_date=DT,
    feed_end_date=DT,
    feed_version=V,
    feed_contact_email=V,
    feed_contact_url=V,
)

FILES: tuple[GtfsFile, ...] = (
    GtfsFile("agency.txt", AGENCY, ("agency_name", "agency_url", "agency_timezone")),
    GtfsFile("routes.txt", ROUTES, ("route_id", "route_type")),
    GtfsFile("trips.txt", TRIPS, ("route_id", "service_id", "trip_id")),
    GtfsFile(
        "stops.txt", STOPS, ("stop_id",), expected_columns=("stop_name", "stop_lat", "stop_lon")
    ),
    GtfsFile(
        "stop_times.txt",
        STOP_TIMES,
        ("trip_id", "stop_sequence"),
        expected_columns=("stop_id", "arrival_time", "departure_time"),
    ),
    GtfsFile("calendar.txt", CALENDAR, tuple(CALENDAR.columns), required=False),
    GtfsFile("calendar_dates.txt", CALENDAR_DATES, tuple(CALENDAR_DATES.columns), required=False),
    GtfsFile(
        "feed_info.txt",
        FEED_INFO,
        ("feed_publisher_name", "feed_publisher_url", "feed_lang"),
        required=False,
    ),
)
TABLES: tuple[Table, ...] = tuple(spec.table for spec in FILES)
SNAPSHOT = True  # a feed is the whole timetable: a new one replaces the old
FRESHNESS: tuple[str, str] | None = None  # a plan, not events: fresh = last changed feed


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    """The whole feed, every time: GTFS static has no notion of "new since"."""
    path = source.options.get("path", DEFAULT_PATH)
    yield fetch(client, source, path, extension="zip", watermark_after=None)


def check_kind(content: bytes) -> None:
    """Refuse (:class:`WrongKindError`, one line) a received file that is plainly no GTFS feed:
    not a zip (by its magic bytes), or a zip without any ``.txt`` member. A damaged zip is let
    through: landed, then rejected by ``parse``."""
    if content[:4] not in _ZIP_MAGIC:
        raise WrongKindError(f"is {describe_content(content)}, not a zip archive; {TAKES}")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
    except (*_UNREADABLE, ValueError):
        return
    if not any(name.endswith(".txt") for name in names):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") or "nothing"
        raise WrongKindError(f"is a zip archive without any .txt file ({shown}); {TAKES}")


def parse(content: bytes) -> Parsed:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (*_UNREADABLE, ValueError) as error:
        raise ParseError(
            f"a GTFS feed is a zip archive of .txt files ({REFERENCE}, 'Dataset Files'): the "
            f"file is not a readable zip ({_one_line(error)}); send the feed's .zip as published"
        ) from None
    members = _members(archive)
    _require_files(members)
    parsed = Parsed()
    for spec in FILES:
        if spec.file in members:
            _parse_file(spec, _read(archive, members[spec.file], spec.file), parsed)
    return parsed


def _require_files(members: dict[str, str]) -> None:
    """:class:`ParseError` naming the required files the zip lacks, if any."""
    missing = [spec.file for spec in FILES if spec.required and spec.file not in members]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        raise ParseError(
            f"GTFS requires {' and '.join(missing)} ({REFERENCE}, 'Dataset Files'): the zip has "
            f"no {' nor '.join(missing)} at its root or in its one folder; add {them} to the feed"
        )
    if "calendar.txt" not in members and "calendar_dates.txt" not in members:
        raise ParseError(
            f"GTFS requires calendar.txt or calendar_dates.txt ({REFERENCE}, 'Dataset Files': "
            "one of the two, for the days each service runs): the zip has neither; add "
            "calendar.txt (weekly pattern) or calendar_dates.txt (service by date)"
        )


def _members(archive: zipfile.ZipFile) -> dict[str, str]:
    """File name -> member name: files at the root, or else all in one top-level folder."""
    names = [name for name in archive.namelist() if not name.endswith("/")]
    root = {name: name for name in names if "/" not in name}
    if root:
        return root
    folders = {name.split("/", 1)[0] for name in names}
    if len(folders) == 1:
        return {name.split("/", 1)[1]: name for name in names if name.count("/") == 1}
    return {}


def _read(archive: zipfile.ZipFile, member: str, file: str) -> str:
    try:
        data = archive.read(member)
    except _UNREADABLE as error:
        raise ParseError(
            f"{file} cannot be read from the zip ({_one_line(error)}): the archive is damaged; "
            "export the feed again"
        ) from None
    # surrogateescape keeps undecodable bytes so that only the rows holding them are rejected
    return data.decode("utf-8-sig", errors="surrogateescape")


def _parse_file(spec: GtfsFile, text: str, parsed: Parsed) -> None:
    table = spec.table
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ParseError(
                f"a GTFS file starts with a header line naming its columns ({REFERENCE}, 'File "
                f"Requirements'): {spec.file} is empty; write its header line (and rows)"
            )
        header = [name.strip().lstrip("\ufeff") for name in header]
        _require_columns(spec, header)
        records = []
        for row_number, values in enumerate(reader, start=1):
            if not any(value.strip() for value in values):
                continue  # blank line
            records.append((row_number, (reader.line_num, values)))
    except csv.Error as error:
        raise ParseError(
            f"GTFS files are CSV ({REFERENCE}, 'File Requirements'): {spec.file} line "
            f"{reader.line_num} does not parse ({_one_line(error)}); quote fields that hold "
            "commas, quotes or line breaks"
        ) from None
    if spec.file == "agency.txt" and len(records) > 1 and "agency_id" not in header:
        raise ParseError(
            f"GTFS requires column 'agency_id' in agency.txt when it lists several agencies "
            f"({REFERENCE}, 'agency.txt'): it lists {len(records)} and has no such column; give "
            "each agency an agency_id"
        )
    missing = {
        name
        for column in spec.expected_columns
        if column not in header
        for name in (column, f"{column}_seconds")
        if name in table.columns
    }
    if missing:
        parsed.missing[table.name] = missing
    fill_agency = spec.file == "agency.txt" and len(records) == 1

    def convert(record: tuple[int, list[str]]) -> dict[str, Any]:
        line, values = record
        try:
            if len(values) > len(header) and not any(v.strip() for v in values[len(header) :]):
                values = values[: len(header)]  # trailing empty fields: harmless
            if len(values) != len(header):
                column = header[min(len(values), len(header) - 1)]
                raise RowError(
                    f"column {column!r}: expected {len(header)} fields, got {len(values)}"
                )
            row = _record(table, dict(zip(header, values, strict=True)))
            if fill_agency and not row.get("agency_id"):
                row["agency_id"] = row.get("agency_name")
            return table.typed(row)  # typed here so that the reason names file and line
        except RowError as error:
            raise RowError(f"{spec.file} line {line}: {error}") from None

    def payload(record: tuple[int, list[str]]) -> str:
        return _payload(dict(zip(header, record[1], strict=False)))

    table.collect(records, parsed, convert, payload)


def _require_columns(spec: GtfsFile, header: list[str]) -> None:
    """:class:`ParseError` naming the first required column the file's header lacks."""
    for column in spec.required_columns:
        if column not in header:
            raise ParseError(
                f"GTFS requires column {column!r} in {spec.file} ({REFERENCE}, "
                f"'{spec.file}'): its header has no such column; add {column} to the header "
                "and to every row"
            )


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def _record(table: Table, received: dict[str, str]) -> dict[str, Any]:
    """The known columns of one row, with GTFS times and dates converted."""
    record: dict[str, Any] = {}
    for column, value in received.items():
        if column not in table.columns:
            continue
        if _has_surrogates(value):
            raise RowError(f"column {column!r}: not valid UTF-8")
        record[column] = value
        if value.strip() == "":
            continue
        if column in TIME_FIELDS:
            record[f"{column}_seconds"] = _seconds(column, value)
        elif column in DATE_FIELDS:
            record[column] = _date(column, value)
    return record


def _seconds(column: str, value: str) -> int:
    match = _TIME.fullmatch(value.strip())
    if not match:
        raise RowError(f"column {column!r}: expected a GTFS time H:MM:SS, got {value!r}")
    hours, minutes, seconds = (int(part) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _date(column: str, value: str) -> date:
    match = _DATE.fullmatch(value.strip())
    try:
        if not match:
            raise ValueError
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise RowError(f"column {column!r}: expected a date YYYYMMDD, got {value!r}") from None


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def _payload(received: dict[str, str]) -> str:
    """The row as received; undecodable bytes shown as U+FFFD so the payload can be stored."""
    clean = {
        name: value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if _has_surrogates(value)
        else value
        for name, value in received.items()
    }
    return as_payload(clean)
