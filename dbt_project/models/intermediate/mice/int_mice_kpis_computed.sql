-- MICE City KPIs, city-wide (events and hotels in the six municipalities):
--   MI01 events held, counted by start date, per month and per Thai fiscal year;
--   MI02 attendees: value = domestic + international, numerator = international,
--        denominator = all attendees (the international share is numerator / denominator),
--        per month and per Thai fiscal year, by start date;
--   MI03 revenue (attendee spend, THB), per Thai fiscal year, by start date;
--   MI04 hotel occupancy: occupied room-nights / available room-nights, summed over hotels and
--        days of the month (not a mean of daily rates); null when no room was available.
-- A Thai fiscal year runs 1 October - 30 September; its period_start is dim_date's
-- fiscal_year_start. Every month and fiscal year from the first event to yesterday has its row:
-- a period without an event held none, as far as the portal (whose freshness is watched) tells.

with events as (

    select * from {{ ref('stg_city__mice_events') }}

),

hotel_days as (

    select * from {{ ref('stg_city__hotel_occupancies') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

city_events as (

    select
        events.event_id,
        events.start_date,
        dates.fiscal_year_start,
        coalesce(events.domestic_attendees, 0) as domestic_attendees,
        coalesce(events.international_attendees, 0) as international_attendees,
        events.revenue_thb

    from events
    inner join aliases on events.municipality_name = aliases.alias
    inner join dates on events.start_date = dates.date_day

),

event_periods as (

    select
        'month' as period_grain,
        cast(date_trunc('month', start_date) as date) as period_start,
        *

    from city_events

    union all

    select
        'fiscal_year' as period_grain,
        fiscal_year_start as period_start,
        *

    from city_events

),

history_days as (

    select date_day, fiscal_year_start
    from dates
    where date_day between (select min(start_date) from city_events)
        and {{ pipeline_today() }} - 1

),

periods as (

    select distinct 'month' as period_grain, cast(date_trunc('month', date_day) as date) as period_start
    from history_days

    union

    select distinct 'fiscal_year', fiscal_year_start from history_days

    union

    select distinct period_grain, period_start from event_periods

),

period_sums as (

    select
        periods.period_grain,
        periods.period_start,
        count(event_periods.event_id) as events,
        coalesce(sum(event_periods.international_attendees), 0) as international_attendees,
        coalesce(
            sum(event_periods.domestic_attendees + event_periods.international_attendees), 0
        ) as attendees,
        case
            when count(event_periods.event_id) = 0 then 0 else sum(event_periods.revenue_thb)
        end as revenue_thb

    from periods
    left join event_periods
        on periods.period_grain = event_periods.period_grain
        and periods.period_start = event_periods.period_start
    group by periods.period_grain, periods.period_start

),

mi01 as (

    select
        'MI01' as kpi_id,
        period_grain,
        period_start,
        cast(events as double) as numerator,
        cast(null as double) as denominator,
        cast(events as double) as value

    from period_sums

),

mi02 as (

    select
        'MI02' as kpi_id,
        period_grain,
        period_start,
        cast(international_attendees as double) as numerator,
        cast(attendees as double) as denominator,
        cast(attendees as double) as value

    from period_sums

),

mi03 as (

    select
        'MI03' as kpi_id,
        period_grain,
        period_start,
        revenue_thb as numerator,
        cast(null as double) as denominator,
        revenue_thb as value

    from period_sums
    where period_grain = 'fiscal_year'

),

city_hotel_days as (

    select
        hotel_days.occupancy_date,
        hotel_days.rooms_available,
        hotel_days.rooms_occupied

    from hotel_days
    inner join aliases on hotel_days.municipality_name = aliases.alias
    where hotel_days.rooms_available is not null
      and hotel_days.rooms_occupied is not null

),

mi04_sums as (

    select
        cast(date_trunc('month', occupancy_date) as date) as period_start,
        cast(sum(rooms_occupied) as double) as numerator,
        cast(sum(rooms_available) as double) as denominator

    from city_hotel_days
    group by 1

),

mi04 as (

    select
        'MI04' as kpi_id,
        'month' as period_grain,
        period_start,
        numerator,
        denominator,
        numerator / nullif(denominator, 0) as value

    from mi04_sums

),

unioned as (

    select * from mi01
    union all
    select * from mi02
    union all
    select * from mi03
    union all
    select * from mi04

)

select
    {{ kpi_columns(municipality_id='null', route_id='null') }}

from unioned
