"""Daily tap-ins of the KKTS ticketing system, per municipality, route and fare product.

A route's tap-ins are shared among the municipalities its stops lie in (by number of stops).
Weekends, school breaks (mid-March to mid-May, October) and holidays (Songkran, New Year) lower
the numbers; students ride least on weekends and in school breaks. Each (day, municipality) draws
from its own seeded RNG, so a day's figures never change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

from emulators.synthetic import rng
from emulators.transit_gtfs import ROUTES, STOPS_BY_ID, targets

FARE_PRODUCTS = {"adult": 0.55, "student": 0.25, "senior": 0.13, "child": 0.07}
UNKNOWN_FARE_PRODUCT = "tourist_pass"
DAILY_BOARDINGS = {"LRT1": 11_000, "B10": 1_400, "B20": 1_900, "S30": 900, "S40": 1_100, "A1": 650}
_GROWTH_EPOCH = date(2024, 1, 1)


@cache
def route_shares() -> dict[str, dict[str, float]]:
    """municipality_id -> {route_id: share of that route's tap-ins made in the municipality}."""
    shares: dict[str, dict[str, float]] = {}
    for route in ROUTES:
        counts = Counter(STOPS_BY_ID[stop_id].municipality_id for stop_id in route.stop_ids)
        for municipality_id, count in counts.items():
            shares.setdefault(municipality_id, {})[route.route_id] = count / len(route.stop_ids)
    return shares


@cache
def day_rows(day: date, municipality_id: str) -> tuple[Mapping[str, Any], ...]:
    r = rng("transit.ridership", day.isoformat(), municipality_id)
    weekend = day.weekday() >= 5
    school_break = (3, 15) <= (day.month, day.day) <= (5, 15) or day.month == 10
    holiday = (4, 13) <= (day.month, day.day) <= (4, 15) or (day.month, day.day) in {
        (12, 31),
        (1, 1),
    }
    level = (0.72 if weekend else 1.0) * (0.55 if holiday else 1.0)
    level *= 1 + 0.0002 * (day - _GROWTH_EPOCH).days
    rows = []
    for route_id, share in sorted(route_shares().get(municipality_id, {}).items()):
        for product, product_share in FARE_PRODUCTS.items():
            factor = product_share
            if product == "student":
                factor *= 0.3 if weekend else 0.45 if school_break else 1.0
            tap_ins = round(
                DAILY_BOARDINGS[route_id] * share * level * factor * r.uniform(0.88, 1.12)
            )
            rows.append(
                {
                    "service_date": day.isoformat(),
                    "municipality_id": municipality_id,
                    "route_id": route_id,
                    "fare_product": product,
                    "tap_ins": tap_ins,
                }
            )
    return tuple(rows)


def apply_faults(rows: list[dict[str, Any]], faults: Mapping[str, Any]) -> None:
    """Data faults on one page's rows, in place."""
    for number, index in enumerate(targets(faults, "malformed_rows", len(rows))):
        if number % 2 == 0:
            rows[index]["tap_ins"] = "n/a"
        else:
            rows[index].pop("route_id", None)
    for index in targets(faults, "out_of_range", len(rows)):
        if isinstance(rows[index].get("tap_ins"), int):
            rows[index]["tap_ins"] = -rows[index]["tap_ins"] - 1
    for index in targets(faults, "unknown_codes", len(rows)):
        rows[index]["fare_product"] = UNKNOWN_FARE_PRODUCT
    for index in reversed(targets(faults, "duplicate_rows", len(rows))):
        rows.insert(index + 1, dict(rows[index]))
    missing = faults.get("missing_column")
    if missing:
        for row in rows:
            row.pop(missing, None)
