-- The days each event source's loaded history covers: its first and last day with data
-- (Asia/Bangkok dates; MICE events, which are sparse, up to yesterday). A KPI period is covered only within them: a year of boardings built
-- from its last 28 days is not a year's value, nor is a month whose source stopped mid-month.

with tap_ins as (

    select * from {{ ref('stg_transit__tap_ins') }}

),

stop_time_updates as (

    select * from {{ ref('stg_transit__stop_time_updates') }}

),

mice_events as (

    select * from {{ ref('stg_city__mice_events') }}

),

hotel_occupancies as (

    select * from {{ ref('stg_city__hotel_occupancies') }}

),

sensor_uplinks as (

    select * from {{ ref('stg_city__sensor_uplinks') }}

),

solar_outputs as (

    select * from {{ ref('stg_city__solar_outputs') }}

),

ems_dispatches as (

    select * from {{ ref('stg_university__ems_dispatches') }}

),

measure_reports as (

    select * from {{ ref('stg_university__measure_reports') }}

),

service_requests as (

    select * from {{ ref('stg_citizens__service_requests') }}

),

histories as (

    select
        'transit_ridership' as source_table,
        min(service_date) as first_day,
        max(service_date) as last_day
    from tap_ins
    union all
    select 'transit_gtfs_rt_trip_updates', min(service_date), max(service_date) from stop_time_updates
    union all
    -- events are sparse: days after the last one are days without one, up to yesterday
    select 'city_mice_events', min(start_date), {{ pipeline_today() }} - 1 from mice_events
    union all
    select 'city_hotel_occupancy', min(occupancy_date), max(occupancy_date) from hotel_occupancies
    union all
    select 'city_sensor_uplinks', min(uplinked_date), max(uplinked_date) from sensor_uplinks
    union all
    select 'city_solar', min(generation_date), max(generation_date) from solar_outputs
    union all
    select 'university_ems_dispatches', min(call_date), max(call_date) from ems_dispatches
    union all
    select 'university_measure_reports', min(period_start), max(period_end) from measure_reports
    union all
    select 'citizens_service_requests', min(requested_date), max(requested_date) from service_requests

)

select
    source_table,
    cast(first_day as date) as first_day,
    cast(last_day as date) as last_day

from histories
where first_day is not null
