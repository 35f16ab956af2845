-- The governance KPIs GV01-GV03 in the KPI shape fct_kpi_values unions: one row per KPI,
-- month and (GV01) municipality. Each KPI's formula lives in its own model.

{% set kpi_models = [
    'int_complaint_rates_computed',
    'int_complaint_sla_shares_computed',
    'int_complaint_closure_days_computed',
] %}

with computed as (

    {% for kpi_model in kpi_models %}
    select
        {{ kpi_columns() }}
    from {{ ref(kpi_model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from computed
