{{
    config(
        materialized='incremental',
        unique_key='kpi_value_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

-- Every KPI of the catalogue, per period and, where its grain has one, per municipality or
-- route. An incremental build recomputes the periods that end within the last
-- var('kpi_recompute_days') days and leaves older periods as they were built.

{% set kpi_models = [
    'int_transport_kpis_computed',
    'int_mice_kpis_computed',
    'int_health_kpis_computed',
    'int_governance_kpis_computed',
    'int_environment_kpis_computed',
] %}

with computed as (

    {% for kpi_model in kpi_models %}
    select
        kpi_id,
        municipality_id,
        route_id,
        period_grain,
        period_start,
        numerator,
        denominator,
        value
    from {{ ref(kpi_model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

periods as (

    select
        *,
        cast(
            case period_grain
                when 'day' then period_start
                when 'month' then period_start + interval 1 month - interval 1 day
                else period_start + interval 1 year - interval 1 day
            end
            as date
        ) as period_end

    from computed

),

{% if is_incremental() %}
recent as (

    select * from periods
    where period_end >= current_date - {{ var('kpi_recompute_days') }}

),
{% else %}
recent as (

    select * from periods

),
{% endif %}

kpis as (

    select * from {{ ref('dim_kpi') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

final as (

    select
        md5(concat_ws(
            '|',
            recent.kpi_id,
            coalesce(recent.municipality_id, ''),
            coalesce(recent.route_id, ''),
            recent.period_grain,
            cast(recent.period_start as varchar)
        )) as kpi_value_id,
        recent.kpi_id,
        recent.municipality_id,
        recent.route_id,
        recent.period_grain,
        recent.period_start,
        recent.period_end,
        dates.year_ce,
        dates.year_be,
        dates.fiscal_year_be,
        cast(recent.value as double) as value,
        cast(recent.numerator as double) as numerator,
        cast(recent.denominator as double) as denominator,
        kpis.unit,
        kpis.target,
        kpis.direction,
        case
            when recent.value is null then 'no_data'
            when kpis.target is null then 'no_target'
            when kpis.direction = 'higher' and recent.value >= kpis.target then 'met'
            when kpis.direction = 'lower' and recent.value <= kpis.target then 'met'
            else 'not_met'
        end as status,
        '{{ var("run_id", invocation_id) }}' as run_id,
        '{{ invocation_id }}' as dbt_invocation_id

    from recent
    inner join kpis on recent.kpi_id = kpis.kpi_id
    inner join dates on recent.period_start = dates.date_day

)

select * from final
