with source as (

    select * from {{ source('transit', 'gtfs_rt_trip_updates') }}

),

renamed as (

    select
        trip_key,
        stop_key,
        trip_id,
        cast(start_date as date) as service_date,
        cast(stop_sequence as bigint) as stop_sequence,
        stop_id,
        route_id,
        cast(direction_id as integer) as direction_id,
        start_time,
        start_time_seconds,
        trip_schedule_relationship,
        schedule_relationship as stop_schedule_relationship,
        is_predicted,
        vehicle_id,
        vehicle_label,
        entity_id,
        trip_delay as trip_delay_seconds,
        arrival_time as arrival_at,
        {{ bangkok_date('arrival_time') }} as arrival_local_date,
        arrival_delay as arrival_delay_seconds,
        arrival_uncertainty as arrival_uncertainty_seconds,
        departure_time as departure_at,
        departure_delay as departure_delay_seconds,
        departure_uncertainty as departure_uncertainty_seconds,
        trip_update_timestamp as trip_updated_at,
        feed_timestamp as feed_generated_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
