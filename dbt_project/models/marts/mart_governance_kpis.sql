-- cross-cutting KPIs: one row per KPI value, readable.
{{ focus_area_kpis('cross-cutting') }}
