{#- Source freshness judged against the pipeline's clock (var('today'), see pipeline_now), so
    that `dbt source freshness` agrees with `smartcity status` on a pinned day. Otherwise as
    dbt's default. -#}
{% macro duckdb__collect_freshness(source, loaded_at_field, filter) %}
    {% call statement('collect_freshness', fetch_result=True, auto_begin=False) -%}
        select
            max({{ loaded_at_field }}) as max_loaded_at,
            {{ pipeline_now() }} as snapshotted_at
        from {{ source }}
        {% if filter %}
        where {{ filter }}
        {% endif %}
    {%- endcall %}
    {{ return(load_result('collect_freshness')) }}
{% endmacro %}
