-- GV01 complaints per 10,000 inhabitants, per municipality and month: the tickets filed in the
-- month (by the Asia/Bangkok date of requested_at) over the municipality's population that
-- calendar year (int_municipality_populations, carried forward), times 10,000. Every
-- municipality gets a row for every month with data (zero complaints when none was filed); a
-- ticket whose municipality the aliases do not resolve counts in no municipality. value is
-- null when the population is zero or unknown.
-- numerator: complaints filed; denominator: population; value = numerator / denominator * 10000.

with tickets as (

    select * from {{ ref('int_service_requests_lifecycled') }}

),

months as (

    select * from {{ ref('int_service_request_months_spined') }}

),

municipalities as (

    select * from {{ ref('municipalities') }}

),

populations as (

    select * from {{ ref('int_municipality_populations') }}

),

filed as (

    select
        municipality_id,
        cast(date_trunc('month', {{ bangkok_date('requested_at') }}) as date) as month_start,
        count(*) as complaints

    from tickets
    where municipality_id is not null
    group by 1, 2

),

municipality_months as (

    select
        municipalities.municipality_id,
        months.month_start

    from municipalities
    cross join months

),

counted as (

    select
        municipality_months.municipality_id,
        municipality_months.month_start,
        cast(coalesce(filed.complaints, 0) as double) as complaints,
        cast(populations.population as double) as population

    from municipality_months
    left join filed
        on municipality_months.municipality_id = filed.municipality_id
        and municipality_months.month_start = filed.month_start
    left join populations
        on municipality_months.municipality_id = populations.municipality_id
        and populations.population_year = extract(year from municipality_months.month_start)

),

final as (

    select
        'GV01' as kpi_id,
        municipality_id,
        cast(null as varchar) as route_id,
        'month' as period_grain,
        month_start as period_start,
        complaints as numerator,
        population as denominator,
        case when population > 0 then complaints / population * 10000 end as value

    from counted

)

select * from final
