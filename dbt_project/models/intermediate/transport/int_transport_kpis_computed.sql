-- Logistics & Transportation KPIs TR01-TR05 in the shape fct_kpi_values unions: one row per KPI,
-- period and (where the grain has one) municipality or route. A value is null when its
-- denominator is 0 or null, or when there is no data for it; counts have no denominator.
--
-- TR01 boardings, municipality x month: sum of tap-ins.
-- TR02 boardings per inhabitant, municipality x year: the year's tap-ins / that year's population.
-- TR03 on-time performance, route x service day: observed arrivals within -60 s .. +300 s of the
--      timetable / observed arrivals (int_stop_arrivals_matched, which skips updates without
--      trip_id, start_date, stop or arrival time).
-- TR04 stops with real-time information, service day: distinct feed stops with a StopTimeUpdate
--      that service day / stops of the current feed (location_type 0 or null). Updates without
--      a service day (start_date) or a stop_id, which GTFS-Realtime allows, are skipped.
-- TR05 population within 500 m of a stop, municipality x year: population of the communities
--      whose centroid lies within 0.5 km of a stop / the municipality's population.
--
-- Periods: every month and year with tap-ins (TR01, TR02), every service day with GTFS-RT data
-- before today in Asia/Bangkok (TR03, TR04: today's service day is still running), every year
-- up to the current one in which the current GTFS feed is in service and a population is known
-- (TR05: the feed's stops say nothing about other years).

with tap_ins as (

    select * from {{ ref('stg_transit__tap_ins') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

municipalities as (

    select * from {{ ref('municipalities') }}

),

populations as (

    select * from {{ ref('int_municipality_populations') }}

),

arrivals as (

    select * from {{ ref('int_stop_arrivals_matched') }}

),

updates as (

    select * from {{ ref('stg_transit__stop_time_updates') }}

),

stops as (

    select * from {{ ref('stg_transit__stops') }}

),

routes as (

    select * from {{ ref('stg_transit__routes') }}

),

communities as (

    select * from {{ ref('int_community_populations_measured_to_stops') }}

),

calendars as (

    select * from {{ ref('stg_transit__calendars') }}

),

calendar_dates as (

    select * from {{ ref('stg_transit__calendar_dates') }}

),

today as (

    select {{ pipeline_today() }} as local_date

),

-- TR01, TR02 --------------------------------------------------------------------------------

boardings as (

    select
        aliases.municipality_id,
        tap_ins.service_date,
        tap_ins.tap_ins

    from tap_ins
    inner join aliases on tap_ins.municipality_id = aliases.alias

),

boarding_months as (

    select
        municipality_id,
        cast(date_trunc('month', service_date) as date) as period_start,
        sum(tap_ins) as boardings

    from boardings
    group by 1, 2

),

boarding_years as (

    select
        municipality_id,
        cast(extract(year from service_date) as integer) as period_year,
        sum(tap_ins) as boardings

    from boardings
    group by 1, 2

),

tr01 as (

    select
        'TR01' as kpi_id,
        municipalities.municipality_id,
        cast(null as varchar) as route_id,
        'month' as period_grain,
        months.period_start,
        cast(boarding_months.boardings as double) as numerator,
        cast(null as double) as denominator,
        cast(boarding_months.boardings as double) as value

    from municipalities
    cross join (select distinct period_start from boarding_months) as months
    left join boarding_months
        on municipalities.municipality_id = boarding_months.municipality_id
        and months.period_start = boarding_months.period_start

),

tr02 as (

    select
        'TR02' as kpi_id,
        municipalities.municipality_id,
        cast(null as varchar) as route_id,
        'year' as period_grain,
        make_date(years.period_year, 1, 1) as period_start,
        cast(boarding_years.boardings as double) as numerator,
        cast(populations.population as double) as denominator,
        cast(boarding_years.boardings as double)
        / nullif(cast(populations.population as double), 0) as value

    from municipalities
    cross join (select distinct period_year from boarding_years) as years
    left join boarding_years
        on municipalities.municipality_id = boarding_years.municipality_id
        and years.period_year = boarding_years.period_year
    left join populations
        on municipalities.municipality_id = populations.municipality_id
        and years.period_year = populations.population_year

),

-- TR03, TR04 --------------------------------------------------------------------------------

realtime_days as (

    select distinct updates.service_date
    from updates
    cross join today
    where updates.service_date is not null
        and updates.service_date < today.local_date

),

route_days as (

    select
        route_id,
        service_date,
        count(*) as observed_arrivals,
        count(*) filter (where is_on_time) as on_time_arrivals

    from arrivals
    group by 1, 2

),

tr03 as (

    select
        'TR03' as kpi_id,
        cast(null as varchar) as municipality_id,
        routes.route_id,
        'day' as period_grain,
        realtime_days.service_date as period_start,
        cast(coalesce(route_days.on_time_arrivals, 0) as double) as numerator,
        cast(coalesce(route_days.observed_arrivals, 0) as double) as denominator,
        cast(route_days.on_time_arrivals as double)
        / nullif(cast(route_days.observed_arrivals as double), 0) as value

    from routes
    cross join realtime_days
    left join route_days
        on routes.route_id = route_days.route_id
        and realtime_days.service_date = route_days.service_date

),

feed_stops as (

    select distinct stop_id
    from stops
    where coalesce(location_type, 0) = 0

),

stops_seen as (

    select
        updates.service_date,
        count(distinct updates.stop_id) as stops_seen

    from updates
    inner join feed_stops on updates.stop_id = feed_stops.stop_id
    where updates.service_date is not null
    group by 1

),

tr04 as (

    select
        'TR04' as kpi_id,
        cast(null as varchar) as municipality_id,
        cast(null as varchar) as route_id,
        'day' as period_grain,
        realtime_days.service_date as period_start,
        cast(coalesce(stops_seen.stops_seen, 0) as double) as numerator,
        cast(feed.stop_count as double) as denominator,
        cast(coalesce(stops_seen.stops_seen, 0) as double)
        / nullif(cast(feed.stop_count as double), 0) as value

    from realtime_days
    cross join (select count(*) as stop_count from feed_stops) as feed
    left join stops_seen on realtime_days.service_date = stops_seen.service_date

),

-- TR05 --------------------------------------------------------------------------------------

feed_service_days as (

    select start_date as first_day, end_date as last_day from calendars
    union all
    select service_date, service_date from calendar_dates where is_service_added

),

feed_years as (

    select
        cast(extract(year from min(first_day)) as integer) as first_year,
        cast(extract(year from max(last_day)) as integer) as last_year

    from feed_service_days

),

coverage_years as (

    select distinct populations.population_year
    from populations
    cross join feed_years
    cross join today
    where populations.population_year between feed_years.first_year and feed_years.last_year
        and populations.population_year <= extract(year from today.local_date)

),

covered as (

    select
        municipality_id,
        population_year,
        sum(population) filter (where is_within_500m_of_stop) as covered_population

    from communities
    group by 1, 2

),

tr05 as (

    select
        'TR05' as kpi_id,
        municipalities.municipality_id,
        cast(null as varchar) as route_id,
        'year' as period_grain,
        make_date(coverage_years.population_year, 1, 1) as period_start,
        -- the communities of the year the municipality's population comes from (it may be
        -- carried forward from an earlier published year), so both sides count the same people
        case
            when populations.population is not null
                then cast(coalesce(covered.covered_population, 0) as double)
        end as numerator,
        cast(populations.population as double) as denominator,
        cast(coalesce(covered.covered_population, 0) as double)
        / nullif(cast(populations.population as double), 0) as value

    from municipalities
    cross join coverage_years
    left join populations
        on municipalities.municipality_id = populations.municipality_id
        and coverage_years.population_year = populations.population_year
    left join covered
        on populations.municipality_id = covered.municipality_id
        and populations.published_year = covered.population_year

),

unioned as (

    select * from tr01
    union all
    select * from tr02
    union all
    select * from tr03
    union all
    select * from tr04
    union all
    select * from tr05

)

select
    {{ kpi_columns() }}

from unioned
