{#- The readable KPI table of one focus area: names in English and Thai, period labels. -#}
{% macro focus_area_kpis(focus_area) %}

with values as (

    select * from {{ ref('fct_kpi_values') }}

),

kpis as (

    select * from {{ ref('dim_kpi') }}
    where focus_area = '{{ focus_area }}'

),

municipalities as (

    select * from {{ ref('municipalities') }}

)

select
    values.kpi_id,
    kpis.name_en as kpi_name_en,
    kpis.name_th as kpi_name_th,
    values.municipality_id,
    municipalities.name_en as municipality_name_en,
    municipalities.name_th as municipality_name_th,
    values.route_id,
    values.period_grain,
    values.period_start,
    values.period_end,
    values.period_label,
    values.year_be,
    values.fiscal_year_be,
    values.period_days,
    values.coverage_days,
    values.is_complete,
    values.value,
    values.unit,
    values.target,
    values.status,
    values.numerator,
    values.denominator,
    values.run_id

from values
inner join kpis on values.kpi_id = kpis.kpi_id
left join municipalities on values.municipality_id = municipalities.municipality_id

{% endmacro %}
