-- Observed arrivals of GTFS-Realtime matched to the timetable: one row per trip, service day and
-- stop sequence at which a vehicle was seen arriving.
--
-- Observed = the arrival is what happened, not a prediction: GTFS-RT marks a prediction with an
-- uncertainty (the live feed: 60 s), an observation with uncertainty 0 or none (the end-of-day
-- archive). Only stops served as scheduled (schedule_relationship SCHEDULED or unset) count.
-- The schedule is the stop time of the same trip_id and stop_sequence, on the trip's own service
-- day (start_date): service-day midnight (Asia/Bangkok) + arrival_time_seconds, which may pass
-- 24 h, so a 25:05:00 arrival of service day D is 01:05 on D + 1 and is judged against D.

with updates as (

    select * from {{ ref('stg_transit__stop_time_updates') }}

),

stop_times as (

    select * from {{ ref('stg_transit__stop_times') }}

),

trips as (

    select * from {{ ref('stg_transit__trips') }}

),

observed as (

    select
        trip_id,
        service_date,
        stop_sequence,
        stop_id,
        arrival_at,
        arrival_delay_seconds

    from updates
    where not is_predicted
        and coalesce(stop_schedule_relationship, 'SCHEDULED') = 'SCHEDULED'
        and (arrival_at is not null or arrival_delay_seconds is not null)
        and trip_id is not null
        and service_date is not null
        and stop_sequence is not null

),

scheduled as (

    select
        observed.trip_id,
        observed.service_date,
        observed.stop_sequence,
        coalesce(stop_times.stop_id, observed.stop_id) as stop_id,
        trips.route_id,
        stop_times.arrival_time as scheduled_arrival_time,
        stop_times.arrival_time_seconds as scheduled_arrival_time_seconds,
        timezone(
            'Asia/Bangkok',
            cast(observed.service_date as timestamp) + to_seconds(stop_times.arrival_time_seconds)
        ) as scheduled_arrival_at,
        observed.arrival_at as reported_arrival_at,
        observed.arrival_delay_seconds as reported_arrival_delay_seconds

    from observed
    inner join stop_times
        on observed.trip_id = stop_times.trip_id
        and observed.stop_sequence = stop_times.stop_sequence
    inner join trips
        on observed.trip_id = trips.trip_id
    where stop_times.arrival_time_seconds is not null

),

matched as (

    select
        *,
        coalesce(
            reported_arrival_at,
            scheduled_arrival_at + to_seconds(reported_arrival_delay_seconds)
        ) as arrival_at

    from scheduled

),

final as (

    select
        trip_id,
        service_date,
        stop_sequence,
        stop_id,
        route_id,
        scheduled_arrival_time,
        scheduled_arrival_time_seconds,
        scheduled_arrival_at,
        arrival_at,
        {{ bangkok_date('arrival_at') }} as arrival_local_date,
        epoch(arrival_at) - epoch(scheduled_arrival_at) as arrival_delay_seconds,
        (epoch(arrival_at) - epoch(scheduled_arrival_at)) between -60 and 300 as is_on_time

    from matched

)

select * from final
