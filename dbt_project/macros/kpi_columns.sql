{#- The columns every int_<area>_kpis_computed model ends with, in the order and types that
    fct_kpi_values unions them in. An area without a column passes the expression to use. -#}
{% macro kpi_columns(municipality_id='municipality_id', route_id='route_id', period_grain='period_grain') %}
    cast(kpi_id as varchar) as kpi_id,
    cast({{ municipality_id }} as varchar) as municipality_id,
    cast({{ route_id }} as varchar) as route_id,
    cast({{ period_grain }} as varchar) as period_grain,
    cast(period_start as date) as period_start,
    cast(numerator as double) as numerator,
    cast(denominator as double) as denominator,
    cast(value as double) as value
{%- endmacro %}
