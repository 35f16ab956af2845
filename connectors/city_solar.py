"""city.solar: daily energy per municipal and university solar site, from CKAN.

The city's open-data portal publishes package ``kk-solar`` (``options["package"]``); see
:mod:`connectors.ckan` for paging and the watermark (the DataStore offset reached).

Raw table ``city_solar``, key (``site_id``, ``date``). Conversions done here, once: ``date``
arrives as day/month/Buddhist-era year ("25/11/2569") and becomes a CE ``DATE``; ``energy_kwh``
arrives as text with thousands commas ("1,234.5") and becomes DOUBLE (the commas are dropped when
typed). ``capacity_kwp``, the site's ``operator`` and the Thai municipality name are kept as
received.

Freshness (``FRESHNESS``): the newest ``date``. The data contract is the suite
``expectations/gx/expectations/city_solar.json``.

A file received by hand must be a CKAN Action API answer (``check_kind``; see
:func:`connectors.ckan.check_kind`): anything else is refused before it is landed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors import ckan
from connectors.base import Page, Parsed, Source, Table

DATASET = "city.solar"
PACKAGE = "kk-solar"

SOLAR = Table(
    name="city_solar",
    columns={
        "ckan_row_id": "BIGINT",
        "site_id": "VARCHAR",
        "site_name": "VARCHAR",
        "operator": "VARCHAR",
        "municipality": "VARCHAR",
        "capacity_kwp": "DOUBLE",
        "date": "DATE",
        "energy_kwh": "DOUBLE",
    },
    key=("site_id", "date"),
)
TABLES = (SOLAR,)
FRESHNESS: tuple[str, str] | None = ("city_solar", "date")
FIELDS = {  # source field: the raw columns made from it
    "_id": ("ckan_row_id",),
    "site_id": ("site_id",),
    "site_name": ("site_name",),
    "operator": ("operator",),
    "municipality": ("municipality",),
    "capacity_kwp": ("capacity_kwp",),
    "date": ("date",),
    "energy_kwh": ("energy_kwh",),
}


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    return ckan.extract(client, source, watermark, package=PACKAGE)


backfill = ckan.backfill  # CKAN cannot be asked for dates: the whole table again


def check_kind(content: bytes) -> None:
    """Refuse a received file that is not a CKAN Action API answer (see :func:`ckan.check_kind`)."""
    ckan.check_kind(content, DATASET)


def parse(content: bytes) -> Parsed:
    return ckan.parse_datastore(content, DATASET, SOLAR, FIELDS, _row)


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ckan_row_id": record.get("_id"),
        "site_id": record.get("site_id"),
        "site_name": record.get("site_name"),
        "operator": record.get("operator"),
        "municipality": record.get("municipality"),
        "capacity_kwp": record.get("capacity_kwp"),
        "date": ckan.be_date(record.get("date"), "date"),
        "energy_kwh": record.get("energy_kwh"),
    }
