"""city.population: population and households per community (ชุมชน) per year, from CKAN.

The city's open-data portal publishes package ``kk-population`` (``options["package"]``); see
:mod:`connectors.ckan` for paging and the watermark (the DataStore offset reached).

Raw table ``city_population``, key (``community_code``, ``year_ce``). Conversions done here, once:
the Buddhist-era ``year`` ("2568") is kept as ``year_be`` and converted to ``year_ce`` (BE − 543);
``population`` and ``households`` arrive as text with thousands commas ("12,345") and become
BIGINT (the commas are dropped when typed); ``lat``/``lon`` become ``latitude``/``longitude``, the
community's centroid. The municipality is kept as received: a Thai name in either of its two
spellings (matching it to a municipality id is the staging model's job).

Freshness: none (``FRESHNESS = None``): the table is published once a year, so no column says
how current it is. The data contract is the suite
``expectations/gx/expectations/city_population.json``.

A file received by hand must be a CKAN Action API answer (``check_kind``; see
:func:`connectors.ckan.check_kind`): anything else is refused before it is landed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors import ckan
from connectors.base import BE_OFFSET, Page, Parsed, Source, Table

DATASET = "city.population"
PACKAGE = "kk-population"

POPULATION = Table(
    name="city_population",
    columns={
        "ckan_row_id": "BIGINT",
        "community_code": "VARCHAR",
        "community_name": "VARCHAR",
        "municipality": "VARCHAR",
        "year_be": "BIGINT",
        "year_ce": "BIGINT",
        "population": "BIGINT",
        "households": "BIGINT",
        "latitude": "DOUBLE",
        "longitude": "DOUBLE",
    },
    key=("community_code", "year_ce"),
)
TABLES = (POPULATION,)
FRESHNESS: tuple[str, str] | None = None  # a yearly count: no event time tells freshness
FIELDS = {  # source field: the raw columns made from it
    "_id": ("ckan_row_id",),
    "community_code": ("community_code",),
    "community_name": ("community_name",),
    "municipality": ("municipality",),
    "year": ("year_be", "year_ce"),
    "population": ("population",),
    "households": ("households",),
    "lat": ("latitude",),
    "lon": ("longitude",),
}


def extract(client: httpx.Client, source: Source, watermark: str | None) -> Iterator[Page]:
    return ckan.extract(client, source, watermark, package=PACKAGE)


backfill = ckan.backfill  # CKAN cannot be asked for dates: the whole table again


def check_kind(content: bytes) -> None:
    """Refuse a received file that is not a CKAN Action API answer (see :func:`ckan.check_kind`)."""
    ckan.check_kind(content, DATASET)


def parse(content: bytes) -> Parsed:
    return ckan.parse_datastore(content, DATASET, POPULATION, FIELDS, _row)


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    year_be = ckan.be_year(record.get("year"), "year_be")
    return {
        "ckan_row_id": record.get("_id"),
        "community_code": record.get("community_code"),
        "community_name": record.get("community_name"),
        "municipality": record.get("municipality"),
        "year_be": year_be,
        "year_ce": None if year_be is None else year_be - BE_OFFSET,
        "population": record.get("population"),
        "households": record.get("households"),
        "latitude": record.get("lat"),
        "longitude": record.get("lon"),
    }
