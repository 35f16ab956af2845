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
    case values.period_grain
        when 'day' then strftime(values.period_start, '%Y-%m-%d')
        when 'month' then strftime(values.period_start, '%Y-%m')
        when 'year' then cast(values.year_ce as varchar)
        else 'FY ' || cast(values.fiscal_year_be as varchar) || ' BE'
    end as period_label,
    values.year_be,
    values.fiscal_year_be,
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
