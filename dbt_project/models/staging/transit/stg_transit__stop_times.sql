with source as (

    select * from {{ source('transit', 'gtfs_stop_times') }}

),

renamed as (

    select
        trip_id,
        cast(stop_sequence as bigint) as stop_sequence,
        stop_id,
        arrival_time,
        arrival_time_seconds,
        departure_time,
        departure_time_seconds,
        stop_headsign,
        pickup_type,
        drop_off_type,
        timepoint,
        shape_dist_traveled,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
