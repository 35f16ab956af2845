-- GV03 median days to close a complaint, city-wide per month: the median, over the tickets
-- whose final closure (closed_at: the latest state is closed, at that state's time) fell in
-- the month (by its Asia/Bangkok date), of closed_at minus requested_at in days
-- (fractional; the mean of the two middle values for an even count). A reopened ticket counts
-- once, from filing to its final closure; one open again is not counted.
-- A statistic, not a ratio: value = the median; numerator null; denominator = the number of
-- final closures the median is over (0, and value null, in a month without closures).

with tickets as (

    select * from {{ ref('int_service_requests_lifecycled') }}

),

months as (

    select * from {{ ref('int_service_request_months_spined') }}

),

closures as (

    select
        cast(date_trunc('month', {{ bangkok_date('closed_at') }}) as date) as month_start,
        count(*) as closed,
        median((epoch(closed_at) - epoch(requested_at)) / 86400.0) as median_days_to_close

    from tickets
    where closed_at is not null
    group by 1

),

final as (

    select
        'GV03' as kpi_id,
        cast(null as varchar) as municipality_id,
        cast(null as varchar) as route_id,
        'month' as period_grain,
        months.month_start as period_start,
        cast(null as double) as numerator,
        cast(coalesce(closures.closed, 0) as double) as denominator,
        cast(closures.median_days_to_close as double) as value

    from months
    left join closures on months.month_start = closures.month_start

)

select * from final
