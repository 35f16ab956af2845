-- Placeholder until this focus area's KPIs are modelled: the KPI shape, no rows.
select
    cast(null as varchar) as kpi_id,
    cast(null as varchar) as municipality_id,
    cast(null as varchar) as route_id,
    cast(null as varchar) as period_grain,
    cast(null as date) as period_start,
    cast(null as double) as numerator,
    cast(null as double) as denominator,
    cast(null as double) as value
where false
