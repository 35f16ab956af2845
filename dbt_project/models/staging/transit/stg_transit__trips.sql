with source as (

    select * from {{ source('transit', 'gtfs_trips') }}

),

renamed as (

    select
        trip_id,
        route_id,
        service_id,
        trip_headsign,
        trip_short_name,
        cast(direction_id as integer) as direction_id,
        block_id,
        shape_id,
        cast(wheelchair_accessible as integer) as wheelchair_accessible,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
