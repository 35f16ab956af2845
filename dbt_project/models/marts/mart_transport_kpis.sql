-- Logistics & Transportation KPIs: one row per KPI value, readable.
{{ focus_area_kpis('Logistics & Transportation') }}
