"""The KPI values as they may leave the warehouse: the suppression rule, the published values
and, for a steward, each KPI's latest period or a period named."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

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
       m.name_th as municipality_name_th, f.route_id, f.period_grain,
       case f.period_grain
           when 'day' then strftime(f.period_start, '%Y-%m-%d')
           when 'month' then strftime(f.period_start, '%Y-%m')
           when 'year' then cast(f.year_ce as varchar)
           else 'FY ' || f.fiscal_year_be || ' BE'
       end as period_label,
       f.period_start, f.period_end, f.year_be, f.fiscal_year_be,
       case when {IS_SUPPRESSED_SQL} then null else f.value end as value,
       case when {IS_SUPPRESSED_SQL} then null else f.numerator end as numerator,
       case when {IS_SUPPRESSED_SQL} then null else f.denominator end as denominator,
       f.unit, f.target,
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
    period: str  # 2026-10, 2026-11-20, 2026, FY 2570 BE
    value: float | None
    unit: str
    target: float | None
    status: str  # met, not_met, no_target, no_data, or suppressed (value then None)


def latest_kpis(
    con: duckdb.DuckDBPyConnection,
    area: str | None = None,
    municipality: str | None = None,
    period: str | None = None,
) -> list[KpiValue]:
    """KPI values of ``area`` (a key of :data:`FOCUS_AREAS`) for ``municipality`` (id, English or
    Thai name), at ``period`` (a label), or each KPI's latest period of each grain."""
    if area is not None and area not in FOCUS_AREAS:
        raise ValueError(f"unknown area {area!r}; choose one of {', '.join(FOCUS_AREAS)}")
    rows = con.execute(
        f"""
        with labelled as (
            select *,
                   period_start = max(period_start)
                       over (partition by kpi_id, period_grain) as is_latest
            from ({PUBLISHED_KPI_VALUES_SQL})
        )
        select kpi_id, kpi_name_en, coalesce(municipality_name_en, route_id, 'city-wide'),
               period_label, value, unit, target, status
        from labelled
        where ($area is null or focus_area = $area)
          and ($municipality is null or $municipality in
               (municipality_id, municipality_name_en, municipality_name_th))
          and (case when $period is null then is_latest else period_label = $period end)
        order by kpi_id, period_label, 3
        """,
        {
            "area": FOCUS_AREAS.get(area) if area else None,
            "municipality": municipality,
            "period": period,
        },
    ).fetchall()
    return [KpiValue(*row) for row in rows]


def formatted(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
