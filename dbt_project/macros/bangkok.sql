{#- Local date in Asia/Bangkok (UTC+7, no daylight saving) of a UTC timestamp. -#}
{% macro bangkok_date(column) -%}
    cast(timezone('Asia/Bangkok', {{ column }}) as date)
{%- endmacro %}
