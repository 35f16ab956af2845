"""The KPI values as they may leave the warehouse: the suppression rule, the published values
and, for a steward, each KPI's latest period or a period named."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from connectors import clock

FOCUS_AREAS = {
    "transport": "Logistics & Transportation",
    "mice": "MICE City",
    "health": "Medical & Healthcare",
    "governance": "cross-cutting",
}

# Small-count suppression, the one rule every output follows (exports, dashboard, artifact, CLI):
# a Medical & Healthcare value computed from a numerator or denominator under SMALL_COUNT (they
# count people or dispatches) is not shown, since it could be turned back into the count.
HEALTH_AREA = FOCUS_AREAS["health"]
SMALL_COUNT = 5
# the rule over marts.fct_kpi_values aliased f, joined to marts.dim_kpi aliased k
IS_SUPPRESSED_SQL = f"""coalesce(
    k.focus_area = '{HEALTH_AREA}'
    and (f.numerator < {SMALL_COUNT} or f.denominator < {SMALL_COUNT}),
    false)"""


def is_suppressed(focus_area: str, numerator: float | None, denominator: float | None) -> bool:
    """The rule of :data:`IS_SUPPRESSED_SQL`, for figures summed outside SQL."""
    small = any(count is not None and count < SMALL_COUNT for count in (numerator, denominator))
    return focus_area == HEALTH_AREA and small


# Every KPI value as it may be shown outside the warehouse: names, the period's label, and a
# suppressed value's figures and status masked. Read by `smartcity kpis`, the Prefect KPI
# artifact and the partner exports.
PUBLISHED_KPI_VALUES_SQL = f"""
select f.kpi_id, k.name_en as kpi_name_en, k.name_th as kpi_name_th, k.focus_area,
       f.municipality_id, m.name_en as municipality_name_en,
       m.name_th as municipality_name_th, f.route_id, f.period_grain, f.period_label,
       f.period_start, f.period_end, f.year_be, f.fiscal_year_be, f.period_days,
       f.coverage_days, f.is_complete,
       case when {IS_SUPPRESSED_SQL} then null else f.value end as value,
       case when {IS_SUPPRESSED_SQL} then null else f.numerator end as numerator,
       case when {IS_SUPPRESSED_SQL} then null else f.denominator end as denominator,
       f.unit, k.decimals, f.target,
       case when {IS_SUPPRESSED_SQL} then 'suppressed' else f.status end as status,
       {IS_SUPPRESSED_SQL} as is_suppressed, f.run_id
from marts.fct_kpi_values f
join marts.dim_kpi k using (kpi_id)
left join marts.municipalities m using (municipality_id)
"""


@dataclass(frozen=True)
class KpiValue:
    kpi_id: str
    name_en: str
    where: str  # municipality name, route id, or "city-wide"
    period: str  # month 2026-10, day 2026-11-20, year 2026, FY 2570 BE
    coverage_days: int
    period_days: int
    value: float | None
    unit: str
    decimals: int
    target: float | None
    status: str  # met, not_met, no_target, no_data, in_progress, partial, or suppressed

    @property
    def coverage(self) -> str:
        """``complete``, or how many of the period's days the value is built from."""
        if self.coverage_days == self.period_days:
            return "complete"
        return f"{self.coverage_days} of {self.period_days} days"


def latest_kpis(
    con: duckdb.DuckDBPyConnection,
    area: str | None = None,
    municipality: str | None = None,
    period: str | None = None,
) -> list[KpiValue]:
    """KPI values of ``area`` (a key of :data:`FOCUS_AREAS`) for ``municipality`` (id, English or
    Thai name), at ``period`` (a label, with or without its grain word: ``month 2026-10`` or
    ``2026-10``), or else per KPI and grain its latest period that has ended (complete, or
    partial) and any period after it (in progress); the latest period when none has ended."""
    if area is not None and area not in FOCUS_AREAS:
        raise ValueError(f"unknown area {area!r}; choose one of {', '.join(FOCUS_AREAS)}")
    rows = con.execute(
        f"""
        with published as (
            select *,
                   coalesce(
                       max(period_start) filter (where period_end < $today)
                           over (partition by kpi_id, period_grain),
                       max(period_start) over (partition by kpi_id, period_grain)
                   ) as shown_from
            from ({PUBLISHED_KPI_VALUES_SQL})
        )
        select kpi_id, kpi_name_en, coalesce(municipality_name_en, route_id, 'city-wide'),
               period_label, coverage_days, period_days, value, unit, decimals, target, status
        from published
        where ($area is null or focus_area = $area)
          and ($municipality is null or $municipality in
               (municipality_id, municipality_name_en, municipality_name_th))
          and (case when $period is null then period_start >= shown_from
                    else $period in (period_label,
                                     regexp_replace(period_label, '^(day|month|year) ', ''))
               end)
        order by kpi_id, period_grain, period_start, 3
        """,
        {
            "area": FOCUS_AREAS.get(area) if area else None,
            "municipality": municipality,
            "period": period,
            "today": clock.today(),
        },
    ).fetchall()
    return [KpiValue(*row) for row in rows]


def formatted(value: float | None, decimals: int | None = None) -> str:
    """``value`` with thousands separators, to ``decimals`` places (the KPI's precision)."""
    if value is None:
        return "-"
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
