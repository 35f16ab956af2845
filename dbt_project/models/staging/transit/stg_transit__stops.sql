with source as (

    select * from {{ source('transit', 'gtfs_stops') }}

),

renamed as (

    select
        stop_id,
        stop_code,
        stop_name,
        stop_desc as stop_description,
        cast(stop_lat as double) as latitude,
        cast(stop_lon as double) as longitude,
        zone_id,
        cast(location_type as integer) as location_type,
        parent_station as parent_station_id,
        cast(wheelchair_boarding as integer) as wheelchair_boarding,
        platform_code,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
