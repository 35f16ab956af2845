with source as (

    select * from {{ source('transit', 'gtfs_routes') }}

),

renamed as (

    select
        route_id,
        agency_id,
        route_short_name,
        route_long_name,
        route_desc as route_description,
        cast(route_type as integer) as route_type,
        route_color,
        route_text_color,
        route_sort_order,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
