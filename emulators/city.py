"""The city municipality's open-data portal: CKAN's Action API (v3) with the DataStore extension.

Endpoints (all on 127.0.0.1; like CKAN, each takes GET query parameters or a POST JSON body):

- ``/api/3/action/package_list``: the package names.
- ``/api/3/action/package_search?q=&rows=&start=``: packages whose name, title, notes or tags
  contain ``q`` (all without it); ``rows`` default 10, at most 1000.
- ``/api/3/action/package_show?id=``: one package (by name or id) with its ``resources``: a PDF
  data dictionary (``datastore_active`` false) and the DataStore table (``datastore_active`` true).
- ``/api/3/action/datastore_search?resource_id=&limit=&offset=&sort=&filters=&include_total=``:
  ``fields`` (``_id`` first), ``records`` (objects), ``total``, ``limit``, ``offset`` and
  ``_links.start``/``_links.next``; ``limit`` default 100, at most 32000; ``sort`` like
  ``"_id"`` or ``"date desc, hotel_id"``; ``filters`` a JSON object of field equalities.

Every answer is CKAN's envelope ``{"help", "success", "result"}``; a bad request answers
``success: false`` with an ``error`` object: 404 ``Not Found Error`` (unknown package or
resource), 409 ``Validation Error`` naming the parameter (missing ``resource_id``, a ``limit``
that is not an integer, a sort on an unknown field).

Packages (DataStore rows in ``_id`` order, which is publication order, so the tables only grow):

- ``kk-population``: population and households per community (ชุมชน) per year, ``year`` in the
  Buddhist era ("2568"), counts as text with thousands commas ("12,345"), municipality in Thai
  (about a quarter of the rows in the second spelling), community centroid ``lat``/``lon``.
  Years from two before the history start up to the last emulated day's year.
- ``kk-mice-events``: two to six MICE events a month (more in the cool season), mostly in Khon
  Kaen City; ``start_date``/``end_date`` as "14/03/2568" (day/month/BE year); attendees and
  ``revenue_thb`` (attendee spend) as text with commas. An event is published once it has ended.
- ``kk-hotel-occupancy``: a dozen hotels, one row a day each: ``rooms_available``,
  ``rooms_occupied`` and ``occupancy_rate`` (0–1); ``date`` as a DataStore timestamp
  ("2026-11-25T00:00:00", the local date at midnight).
- ``kk-solar``: six solar sites (three at Khon Kaen University), one row a day each, ``date`` as
  "25/11/2569", ``energy_kwh`` as text with commas ("1,234.5").

History: like many portals, each table holds whole Thai fiscal years (October to September):
from 1 October of the fiscal year that contains ``clock.first_day`` up to ``clock.last_day``.
A day's rows come from an RNG seeded by (dataset, entity, day), so they never change when the
emulated today moves on; a later today only appends, until the window moves to the next fiscal
year and the older one is dropped (the table then shrinks, which readers must notice).

Data faults honoured (``emulator.faults.data``), applied to rows of every ``datastore_search``
page picked by an RNG seeded by (package, offset), so a page spoils the same way every time:

- ``malformed_rows`` (int N): N rows with "n/a" in a number (population, ``domestic_attendees``,
  ``rooms_occupied``, ``energy_kwh``) or, in rotation, a missing key or an impossible date
  (``community_code`` null, ``start_date`` "31/02/2568", ``hotel_id`` null, ``date`` null);
- ``out_of_range`` (int N): N rows with a centroid outside Khon Kaen province, an event that ends
  before it starts or has negative attendees, occupancy 1.7 (more rooms sold than available),
  or more kWh than the site could make in 24 hours at full power;
- ``duplicate_rows`` (int N): N rows replaced by a copy of another row of the page (same natural
  key; the copy keeps the replaced row's ``_id``, so paging is unchanged);
- ``unknown_codes`` (int N): N rows with a municipality outside the six (``event_type``
  "festival" for MICE events);
- ``missing_column`` (str): that field dropped from ``fields`` and every record;
- ``stale_feed`` (bool): the portal stopped being updated a week before today: rows published in
  the last seven days are not there and ``metadata_modified`` is a week old.

The four tables themselves are built in :mod:`emulators.city_datasets`.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from emulators.city_datasets import (
    NAMESPACE,
    Record,
    Table,
    hotel_occupancy,
    mice_events,
    population,
    solar,
)
from emulators.server import Emulator, Request, Response, json_response
from emulators.synthetic import BANGKOK, Clock, rng

ACTION = "/api/3/action"
DEFAULT_LIMIT = 100
MAX_LIMIT = 32000  # CKAN's ckan.datastore.search.rows_max default
STALE_DAYS = 7
ORGANIZATION = {
    "name": "khon-kaen-city-municipality",
    "title": "เทศบาลนครขอนแก่น",
    "description": "Khon Kaen City Municipality open data",
}


def build(clock: Clock, port: int = 0) -> Emulator:
    """The portal, not started."""
    portal = _Portal(clock)
    emulator = Emulator(
        "city",
        {
            f"{ACTION}/package_list": portal.package_list,
            f"{ACTION}/package_search": portal.package_search,
            f"{ACTION}/package_show": portal.package_show,
            f"{ACTION}/datastore_search": portal.datastore_search,
        },
        port=port,
    )
    portal.faults = emulator.faults.data
    return emulator


def history_start(clock: Clock) -> date:
    """1 October of the Thai fiscal year that contains the first emulated day."""
    first = clock.first_day
    return date(first.year if first.month >= 10 else first.year - 1, 10, 1)


# --------------------------------------------------------------------------------------------
# The portal


class _Portal:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.faults: dict[str, Any] = {}
        start = history_start(clock)
        self.tables = {
            table.package: table
            for table in (
                population(clock, start),
                mice_events(clock, start),
                hotel_occupancy(clock, start),
                solar(clock, start),
            )
        }

    # actions

    def package_list(self, request: Request) -> Response:
        return _ok(request, "package_list", sorted(self.tables))

    def package_search(self, request: Request) -> Response:
        params = _params(request)
        try:
            rows = _integer(params, "rows", 10, 0, 1000)
            start = _integer(params, "start", 0, 0, None)
        except _Invalid as error:
            return _invalid(request, "package_search", error)
        q = str(params.get("q") or "").strip().lower()
        if q in {"*:*", "*"}:
            q = ""
        found = [
            self._package(table, request)
            for table in self.tables.values()
            if not q
            or any(q in text.lower() for text in (table.package, table.title, table.notes))
            or any(q in tag.lower() for tag in table.tags)
        ]
        result = {
            "count": len(found),
            "facets": {},
            "results": found[start : start + rows],
            "sort": "score desc, metadata_modified desc",
            "search_facets": {},
        }
        return _ok(request, "package_search", result)

    def package_show(self, request: Request) -> Response:
        params = _params(request)
        wanted = params.get("id") or params.get("name_or_id")
        if not wanted:
            return _invalid(request, "package_show", _Invalid("id", "Missing value"))
        for table in self.tables.values():
            if wanted in {table.package, table.package_id}:
                return _ok(request, "package_show", self._package(table, request))
        return _not_found(request, "package_show", "Dataset not found")

    def datastore_search(self, request: Request) -> Response:
        action = "datastore_search"
        params = _params(request)
        resource_id = params.get("resource_id") or params.get("id")
        if not resource_id:
            return _invalid(request, action, _Invalid("resource_id", "Missing value"))
        table = next((t for t in self.tables.values() if t.resource_id == resource_id), None)
        if table is None:
            return _not_found(request, action, f'Resource "{resource_id}" was not found.')
        try:
            limit = _integer(params, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
            offset = _integer(params, "offset", 0, 0, None)
            filters = _filters(params.get("filters"))
        except _Invalid as error:
            return _invalid(request, action, error)
        missing = self.faults.get("missing_column")
        fields = [{"id": "_id", "type": "int"}] + [
            {"id": name, "type": type_} for name, type_ in table.fields if name != missing
        ]
        names = {f["id"] for f in fields}
        sort = str(params.get("sort") or "_id")
        try:
            order = _sort_keys(sort, names)
            unknown = sorted(set(filters) - names)
            if unknown:
                raise _Invalid("filters", f'field "{unknown[0]}" not in resource')
        except _Invalid as error:
            return _invalid(request, action, error)

        records = table.published(self._cutoff())
        if filters:
            records = [r for r in records if all(_same(r.get(k), v) for k, v in filters.items())]
        for name, descending in reversed(order):
            records = sorted(
                records, key=lambda r, n=name: _sort_value(r.get(n)), reverse=descending
            )
        page = self._spoil(table, copy.deepcopy(records[offset : offset + limit]), offset)
        if missing:
            for record in page:
                record.pop(missing, None)
        base = {"resource_id": resource_id, "limit": limit, "sort": sort}
        if filters:
            base["filters"] = json.dumps(filters, ensure_ascii=False)
        result: dict[str, Any] = {
            "include_total": True,
            "resource_id": resource_id,
            "fields": fields,
            "records_format": "objects",
            "records": page,
            "limit": limit,
            "offset": offset,
            "sort": sort,
            "_links": {
                "start": f"{ACTION}/{action}?{urlencode(base)}",
                "next": f"{ACTION}/{action}?{urlencode({**base, 'offset': offset + limit})}",
            },
            "total": len(records),
            "total_was_estimated": False,
        }
        if filters:
            result["filters"] = filters
        return _ok(request, action, result)

    # helpers

    def _cutoff(self) -> date:
        if self.faults.get("stale_feed"):
            return self.clock.last_day - timedelta(days=STALE_DAYS)
        return self.clock.last_day

    def _package(self, table: Table, request: Request) -> dict[str, Any]:
        published = [day for day, _ in table.rows if day <= self._cutoff()]
        modified = _ckan_time(max(published) if published else history_start(self.clock))
        created = _ckan_time(history_start(self.clock))
        dictionary_id = str(uuid.uuid5(NAMESPACE, f"{table.package}/data-dictionary"))
        resources = [
            {
                "id": dictionary_id,
                "package_id": table.package_id,
                "name": "data-dictionary",
                "description": "คำอธิบายชุดข้อมูล (data dictionary)",
                "format": "PDF",
                "mimetype": "application/pdf",
                "datastore_active": False,
                "url": request.url_for(
                    f"/dataset/{table.package}/resource/{dictionary_id}"
                    "/download/data-dictionary.pdf"
                ),
                "url_type": "upload",
                "position": 0,
                "state": "active",
                "created": created,
                "last_modified": created,
            },
            {
                "id": table.resource_id,
                "package_id": table.package_id,
                "name": table.resource_name,
                "description": table.title,
                "format": "CSV",
                "mimetype": "text/csv",
                "datastore_active": True,
                "url": request.url_for(
                    f"/dataset/{table.package}/resource/{table.resource_id}"
                    f"/download/{table.resource_name}.csv"
                ),
                "url_type": "upload",
                "position": 1,
                "state": "active",
                "created": created,
                "last_modified": modified,
            },
        ]
        return {
            "id": table.package_id,
            "name": table.package,
            "title": table.title,
            "notes": table.notes,
            "type": "dataset",
            "state": "active",
            "private": False,
            "license_id": "cc-by",
            "license_title": "Creative Commons Attribution",
            "maintainer": "ฝ่ายเทคโนโลยีสารสนเทศ เทศบาลนครขอนแก่น",
            "metadata_created": created,
            "metadata_modified": modified,
            "organization": ORGANIZATION,
            "owner_org": ORGANIZATION["name"],
            "tags": [{"name": tag, "display_name": tag} for tag in table.tags],
            "num_tags": len(table.tags),
            "resources": resources,
            "num_resources": len(resources),
            "extras": [{"key": "update_frequency", "value": "daily"}],
        }

    def _spoil(self, table: Table, page: list[Record], offset: int) -> list[Record]:
        """Apply the data faults to distinct rows of one page (same rows for the same page)."""
        if not page:
            return page
        picks = iter(rng("city.faults", table.package, offset).sample(range(len(page)), len(page)))
        for _ in range(int(self.faults.get("duplicate_rows", 0) or 0)):
            original, replaced = next(picks, None), next(picks, None)
            if original is None or replaced is None:
                break
            page[replaced] = {**copy.deepcopy(page[original]), "_id": page[replaced]["_id"]}
        for knob, spoil in (
            ("malformed_rows", table.malformed),
            ("out_of_range", table.out_of_range),
            ("unknown_codes", table.unknown_code),
        ):
            for n in range(int(self.faults.get(knob, 0) or 0)):
                index = next(picks, None)
                if index is None:
                    break
                spoil(page[index], n)
        return page


# --------------------------------------------------------------------------------------------
# CKAN plumbing


class _Invalid(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update(body)
    return params


def _integer(params: Mapping[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _Invalid(name, "Invalid integer") from None
    if number < low:
        raise _Invalid(name, f"Must be a natural number{' (0 allowed)' if low == 0 else ''}")
    return min(number, high) if high is not None else number


def _filters(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _Invalid("filters", "Cannot parse JSON") from None
    if not isinstance(value, dict):
        raise _Invalid("filters", "Not a JSON object")
    return value


def _sort_keys(sort: str, names: set[str]) -> list[tuple[str, bool]]:
    keys = []
    for part in sort.split(","):
        words = part.strip().split()
        if not words:
            continue
        name, direction = words[0].strip('"'), (words[1].lower() if len(words) > 1 else "asc")
        if name not in names or direction not in {"asc", "desc"} or len(words) > 2:
            raise _Invalid("sort", f'field "{name}" not in resource')
        keys.append((name, direction == "desc"))
    return keys


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return any(_same(value, w) for w in wanted)
    return str(value) == str(wanted)


def _help(request: Request, action: str) -> str:
    return request.url_for(f"{ACTION}/help_show", {"name": action})


def _ok(request: Request, action: str, result: Any) -> Response:
    return json_response({"help": _help(request, action), "success": True, "result": result})


def _not_found(request: Request, action: str, message: str) -> Response:
    error = {"__type": "Not Found Error", "message": f"Not found: {message}"}
    body = {"help": _help(request, action), "success": False, "error": error}
    return json_response(body, status=404)


def _invalid(request: Request, action: str, invalid: _Invalid) -> Response:
    error = {"__type": "Validation Error", invalid.parameter: [invalid.message]}
    body = {"help": _help(request, action), "success": False, "error": error}
    return json_response(body, status=409)


def _ckan_time(day: date) -> str:
    """CKAN's timestamps: naive ISO in UTC; the portal publishes at 06:00 Bangkok."""
    moment = datetime.combine(day, time(6, 0), BANGKOK).astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")
