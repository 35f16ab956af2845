"""city.mice_events: meetings, incentives, conventions and exhibitions, from CKAN.

The city's open-data portal publishes package ``kk-mice-events`` (``options["package"]``), one row
per event once it has ended; see :mod:`connectors.ckan` for paging and the watermark (the
DataStore offset reached).

Raw table ``city_mice_events``, key ``event_id``. Conversions done here, once: ``start_date`` and
``end_date`` arrive as day/month/Buddhist-era year ("14/03/2568") and become CE ``DATE``s;
``domestic_attendees``, ``international_attendees`` (BIGINT) and ``revenue_thb`` (attendee spend,
DOUBLE) arrive as text with thousands commas (dropped when typed). ``event_type`` (meeting,
incentive, convention, exhibition), the Thai or English ``event_name``, ``venue`` and the Thai
municipality name are kept as received.

Freshness (``FRESHNESS``): the newest ``end_date`` (events are published once they have ended).
The data contract is the suite ``expectations/gx/expectations/city_mice_events.json``.

A file received by hand must be a CKAN Action API answer (``check_kind``; see
:func:`connectors.ckan.check_kind`): anything else is refused before it is landed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors import ckan
from connectors.base import Page, Parsed, Source, Table

DATASET = "city.mice_events"
PACKAGE = "kk-mice-events"

EVENTS = Table(
    name="city_mice_events",
    columns={
        "ckan_row_id": "BIGINT",
        "event_id": "VARCHAR",
        "event_name": "VARCHAR",
        "event_type": "VARCHAR",
        "venue": "VARCHAR",
        "municipality": "VARCHAR",
        "start_date": "DATE",
        "end_date": "DATE",
        "domestic_attendees": "BIGINT",
        "international_attendees": "BIGINT",
        "revenue_thb": "DOUBLE",
    },
    key=("event_id",),
)
TABLES = (EVENTS,)
FRESHNESS: tuple[str, str] | None = ("city_mice_events", "end_date")
FIELDS = {  # source field: the raw columns made from it
    "_id": ("ckan_row_id",),
    "event_id": ("event_id",),
    "event_name": ("event_name",),
    "event_type": ("event_type",),
    "venue": ("venue",),
    "municipality": ("municipality",),
    "start_date": ("start_date",),
    "end_date": ("end_date",),
    "domestic_attendees": ("domestic_attendees",),
    "international_attendees": ("international_attendees",),
    "revenue_thb": ("revenue_thb",),
}


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    return ckan.extract(client, source, watermark, package=PACKAGE)


backfill = ckan.backfill  # CKAN cannot be asked for dates: the whole table again


def check_kind(content: bytes) -> None:
    """Refuse a received file that is not a CKAN Action API answer (see :func:`ckan.check_kind`)."""
    ckan.check_kind(content, DATASET)


def parse(content: bytes) -> Parsed:
    return ckan.parse_datastore(content, DATASET, EVENTS, FIELDS, _row)


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ckan_row_id": record.get("_id"),
        "event_id": record.get("event_id"),
        "event_name": record.get("event_name"),
        "event_type": record.get("event_type"),
        "venue": record.get("venue"),
        "municipality": record.get("municipality"),
        "start_date": ckan.be_date(record.get("start_date"), "start_date"),
        "end_date": ckan.be_date(record.get("end_date"), "end_date"),
        "domestic_attendees": record.get("domestic_attendees"),
        "international_attendees": record.get("international_attendees"),
        "revenue_thb": record.get("revenue_thb"),
    }
