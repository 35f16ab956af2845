-- Observed arrivals of GTFS-Realtime matched to the timetable: one row per trip, service day and
-- stop sequence at which a vehicle was seen arriving.
--
-- Observed = the arrival is what happened, not a prediction (is_predicted false: uncertainty 0,
-- or none and a time no later than the feed's). Only stops served as scheduled
-- (schedule_relationship SCHEDULED or unset) count.
-- The schedule is the stop time of the same trip_id and stop_sequence, or, for an update that
-- names its stop by stop_id only, of the same trip_id and stop_id when the trip calls there once;
-- on the trip's own service day (start_date): service-day midnight (Asia/Bangkok) +
-- arrival_time_seconds, which may pass 24 h, so a 25:05:00 arrival of service day D is 01:05 on
-- D + 1 and is judged against D.
-- Updates the GTFS-Realtime reference allows without what this needs are skipped: no trip_id
-- (a trip given by route), no start_date, no arrival time nor delay, or a stop_id the trip
-- calls at more than once (or not at all). If one feed names a stop both ways, the update by
-- stop_sequence wins.

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
        and (stop_sequence is not null or stop_id is not null)

),

stop_calls as (

    select
        *,
        count(*) over (partition by trip_id, stop_id) as calls_at_stop

    from stop_times

),

calls as (

    select * from stop_calls
    where arrival_time_seconds is not null

),

located as (

    -- by stop_sequence
    select
        observed.*,
        calls.stop_sequence as scheduled_stop_sequence,
        calls.stop_id as scheduled_stop_id,
        calls.arrival_time,
        calls.arrival_time_seconds,
        true as is_located_by_sequence

    from observed
    inner join calls
        on observed.trip_id = calls.trip_id
        and observed.stop_sequence = calls.stop_sequence

    union all

    -- by stop_id, when the update has no stop_sequence and the trip calls at the stop once
    select
        observed.*,
        calls.stop_sequence as scheduled_stop_sequence,
        calls.stop_id as scheduled_stop_id,
        calls.arrival_time,
        calls.arrival_time_seconds,
        false as is_located_by_sequence

    from observed
    inner join calls
        on observed.trip_id = calls.trip_id
        and observed.stop_id = calls.stop_id
    where observed.stop_sequence is null
        and calls.calls_at_stop = 1

),

scheduled as (

    select
        located.trip_id,
        located.service_date,
        located.scheduled_stop_sequence as stop_sequence,
        coalesce(located.scheduled_stop_id, located.stop_id) as stop_id,
        trips.route_id,
        located.arrival_time as scheduled_arrival_time,
        located.arrival_time_seconds as scheduled_arrival_time_seconds,
        timezone(
            'Asia/Bangkok',
            cast(located.service_date as timestamp) + to_seconds(located.arrival_time_seconds)
        ) as scheduled_arrival_at,
        located.arrival_at as reported_arrival_at,
        located.arrival_delay_seconds as reported_arrival_delay_seconds

    from located
    inner join trips
        on located.trip_id = trips.trip_id
    qualify row_number() over (
        partition by located.trip_id, located.service_date, located.scheduled_stop_sequence
        order by located.is_located_by_sequence desc
    ) = 1

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
