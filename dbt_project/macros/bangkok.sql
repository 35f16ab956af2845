{#- Local date in Asia/Bangkok (UTC+7, no daylight saving) of a UTC timestamp. -#}
{% macro bangkok_date(column) -%}
    cast(timezone('Asia/Bangkok', {{ column }}) as date)
{%- endmacro %}

{#- The day the pipeline takes as today (Asia/Bangkok): var('today'), which the flows always
    pass from their clock (SMARTCITY_TODAY pins it), else the wall clock. Periods ending on or
    after it are still in progress. -#}
{% macro pipeline_today() -%}
    {%- if var('today', none) -%}
        cast('{{ var("today") }}' as date)
    {%- else -%}
        {{ bangkok_date('current_timestamp') }}
    {%- endif -%}
{%- endmacro %}

{#- The pipeline's current instant: on var('today') at the wall clock's time of day in Bangkok,
    as the flows' clock does, else the wall clock. -#}
{% macro pipeline_now() -%}
    {%- if var('today', none) -%}
        timezone(
            'Asia/Bangkok',
            cast('{{ var("today") }}' as date)
            + cast(timezone('Asia/Bangkok', current_timestamp) as time)
        )
    {%- else -%}
        current_timestamp
    {%- endif -%}
{%- endmacro %}
