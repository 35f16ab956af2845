"""The KPI values as a steward reads them: each KPI's latest period, or a period named."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

FOCUS_AREAS = {
    "transport": "Logistics & Transportation",
    "mice": "MICE City",
    "health": "Medical & Healthcare",
    "governance": "cross-cutting",
}


@dataclass(frozen=True)
class KpiValue:
    kpi_id: str
    name_en: str
    where: str  # municipality name, route id, or "city-wide"
    period: str  # 2026-10, 2026-11-20, 2026, FY 2570 BE
    value: float | None
    unit: str
    target: float | None
    status: str


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
        """
        with labelled as (
            select f.*, k.name_en, k.focus_area, m.name_en as municipality_name,
                   m.name_th as municipality_name_th,
                   case f.period_grain
                       when 'day' then strftime(f.period_start, '%Y-%m-%d')
                       when 'month' then strftime(f.period_start, '%Y-%m')
                       when 'year' then cast(f.year_ce as varchar)
                       else 'FY ' || f.fiscal_year_be || ' BE'
                   end as period_label,
                   f.period_start = max(f.period_start)
                       over (partition by f.kpi_id, f.period_grain) as is_latest
            from marts.fct_kpi_values f
            join marts.dim_kpi k using (kpi_id)
            left join marts.municipalities m using (municipality_id)
        )
        select kpi_id, name_en, coalesce(municipality_name, route_id, 'city-wide'),
               period_label, value, unit, target, status
        from labelled
        where ($area is null or focus_area = $area)
          and ($municipality is null or $municipality in
               (municipality_id, municipality_name, municipality_name_th))
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
