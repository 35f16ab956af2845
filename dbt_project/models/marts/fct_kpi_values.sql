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
--
-- A period is complete when every one of its days is before today and inside its source's
-- loaded history (int_source_histories, for the KPI's history_source). An incomplete period
-- is not judged against the target: `in_progress` while it runs, `partial` once it has ended
-- with only part of it covered (a year whose history starts in December, a month whose source
-- stopped publishing).

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
    where period_end >= {{ pipeline_today() }} - {{ var('kpi_recompute_days') }}

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

histories as (

    select * from {{ ref('int_source_histories') }}

),

covered as (

    select
        recent.*,
        datediff('day', recent.period_start, recent.period_end) + 1 as period_days,
        greatest(
            0,
            datediff(
                'day',
                greatest(recent.period_start, coalesce(histories.first_day, recent.period_start)),
                least(
                    recent.period_end,
                    coalesce(histories.last_day, recent.period_end),
                    {{ pipeline_today() }} - 1
                )
            ) + 1
        ) as coverage_days

    from recent
    inner join kpis on recent.kpi_id = kpis.kpi_id
    left join histories on kpis.history_source = histories.source_table

),

final as (

    select
        md5(concat_ws(
            '|',
            covered.kpi_id,
            coalesce(covered.municipality_id, ''),
            coalesce(covered.route_id, ''),
            covered.period_grain,
            cast(covered.period_start as varchar)
        )) as kpi_value_id,
        covered.kpi_id,
        covered.municipality_id,
        covered.route_id,
        covered.period_grain,
        covered.period_start,
        covered.period_end,
        -- never a bare date or month, which spreadsheets turn into dates
        case covered.period_grain
            when 'day' then 'day ' || strftime(covered.period_start, '%Y-%m-%d')
            when 'month' then 'month ' || strftime(covered.period_start, '%Y-%m')
            when 'year' then 'year ' || cast(dates.year_ce as varchar)
            else 'FY ' || cast(dates.fiscal_year_be as varchar) || ' BE'
        end as period_label,
        dates.year_ce,
        dates.year_be,
        dates.fiscal_year_be,
        cast(covered.period_days as integer) as period_days,
        cast(covered.coverage_days as integer) as coverage_days,
        covered.coverage_days = covered.period_days as is_complete,
        cast(covered.value as double) as value,
        cast(covered.numerator as double) as numerator,
        cast(covered.denominator as double) as denominator,
        kpis.unit,
        kpis.target,
        kpis.direction,
        case
            when covered.value is null then 'no_data'
            when covered.coverage_days < covered.period_days
                and covered.period_end >= {{ pipeline_today() }} then 'in_progress'
            when covered.coverage_days < covered.period_days then 'partial'
            when kpis.target is null then 'no_target'
            when kpis.direction = 'higher' and covered.value >= kpis.target then 'met'
            when kpis.direction = 'lower' and covered.value <= kpis.target then 'met'
            else 'not_met'
        end as status,
        '{{ var("run_id", invocation_id) }}' as run_id,
        '{{ invocation_id }}' as dbt_invocation_id

    from covered
    inner join kpis on covered.kpi_id = kpis.kpi_id
    inner join dates on covered.period_start = dates.date_day

)

select * from final
