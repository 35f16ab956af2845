-- The calendar months (Asia/Bangkok) the complaint channel has data for: from the month of the
-- first ticket filed to the month of the latest state observed, gaps included, so that a month
-- without complaints or closures still gets its KPI rows (zero, or null where nothing to divide).

with tickets as (

    select * from {{ ref('int_service_requests_lifecycled') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

bounds as (

    select
        min(requested_date) as first_date,
        max(greatest(requested_date, last_updated_date)) as last_date

    from tickets

),

months as (

    select distinct dates.month_start

    from dates
    inner join bounds on dates.date_day between bounds.first_date and bounds.last_date

)

select * from months
