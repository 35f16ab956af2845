-- MICE City KPIs: one row per KPI value, readable.
{{ focus_area_kpis('MICE City') }}
