-- Medical & Healthcare KPIs: one row per KPI value, readable.
{{ focus_area_kpis('Medical & Healthcare') }}
