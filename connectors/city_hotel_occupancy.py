"""city.hotel_occupancy: rooms available and occupied per hotel per day, from CKAN.

The city's open-data portal publishes package ``kk-hotel-occupancy`` (``options["package"]``); see
:mod:`connectors.ckan` for paging and the watermark (the DataStore offset reached).

Raw table ``city_hotel_occupancy``, key (``hotel_id``, ``date``). Conversions done here, once:
``date`` arrives as a DataStore timestamp with no zone at midnight ("2026-11-25T00:00:00"), the
local (Asia/Bangkok) day it describes, and becomes that ``DATE``. ``rooms_available``,
``rooms_occupied`` (BIGINT) and ``occupancy_rate`` (DOUBLE, 0–1 as published, not recomputed) keep
the source's values; the municipality is kept as received (Thai).

Freshness (``FRESHNESS``): the newest ``date``. The data contract is the suite
``expectations/gx/expectations/city_hotel_occupancy.json``.

A file received by hand must be a CKAN Action API answer (``check_kind``; see
:func:`connectors.ckan.check_kind`): anything else is refused before it is landed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors import ckan
from connectors.base import Page, Parsed, Source, Table

DATASET = "city.hotel_occupancy"
PACKAGE = "kk-hotel-occupancy"

OCCUPANCY = Table(
    name="city_hotel_occupancy",
    columns={
        "ckan_row_id": "BIGINT",
        "hotel_id": "VARCHAR",
        "hotel_name": "VARCHAR",
        "municipality": "VARCHAR",
        "date": "DATE",
        "rooms_available": "BIGINT",
        "rooms_occupied": "BIGINT",
        "occupancy_rate": "DOUBLE",
    },
    key=("hotel_id", "date"),
)
TABLES = (OCCUPANCY,)
FRESHNESS: tuple[str, str] | None = ("city_hotel_occupancy", "date")
FIELDS = {  # source field: the raw columns made from it
    "_id": ("ckan_row_id",),
    "hotel_id": ("hotel_id",),
    "hotel_name": ("hotel_name",),
    "municipality": ("municipality",),
    "date": ("date",),
    "rooms_available": ("rooms_available",),
    "rooms_occupied": ("rooms_occupied",),
    "occupancy_rate": ("occupancy_rate",),
}


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    return ckan.extract(client, source, watermark, package=PACKAGE)


backfill = ckan.backfill  # CKAN cannot be asked for dates: the whole table again


def check_kind(content: bytes) -> None:
    """Refuse a received file that is not a CKAN Action API answer (see :func:`ckan.check_kind`)."""
    ckan.check_kind(content, DATASET)


def parse(content: bytes) -> Parsed:
    return ckan.parse_datastore(content, DATASET, OCCUPANCY, FIELDS, _row)


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ckan_row_id": record.get("_id"),
        "hotel_id": record.get("hotel_id"),
        "hotel_name": record.get("hotel_name"),
        "municipality": record.get("municipality"),
        "date": ckan.timestamp_date(record.get("date"), "date"),
        "rooms_available": record.get("rooms_available"),
        "rooms_occupied": record.get("rooms_occupied"),
        "occupancy_rate": record.get("occupancy_rate"),
    }
