-- GV02 complaints closed within SLA, city-wide per month: of the tickets whose final closure
-- (closed_at: the ticket's latest state is closed, at that state's time) fell in
-- the month (by its Asia/Bangkok date), the share closed no later than their expected_at, the
-- channel's target (closing exactly at it is within). A reopened ticket counts once, in the
-- month of its final closure, against its original target; one open again is not counted. A
-- closed ticket without expected_at counts as closed, not as within SLA.
-- numerator: closed within SLA; denominator: closed; value = numerator / denominator, null in a
-- month without closures.

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
        count(*) filter (where closed_at <= expected_at) as closed_within_sla

    from tickets
    where closed_at is not null
    group by 1

),

final as (

    select
        'GV02' as kpi_id,
        cast(null as varchar) as municipality_id,
        cast(null as varchar) as route_id,
        'month' as period_grain,
        months.month_start as period_start,
        cast(coalesce(closures.closed_within_sla, 0) as double) as numerator,
        cast(coalesce(closures.closed, 0) as double) as denominator,
        case
            when closures.closed > 0
                then cast(closures.closed_within_sla as double) / closures.closed
        end as value

    from months
    left join closures on months.month_start = closures.month_start

)

select * from final
