with source as (

    select * from {{ source('city', 'hotel_occupancy') }}

),

renamed as (

    select
        hotel_id,
        hotel_name,
        municipality as municipality_name,
        "date" as occupancy_date,
        cast(rooms_available as bigint) as rooms_available,
        cast(rooms_occupied as bigint) as rooms_occupied,
        cast(occupancy_rate as double) as published_occupancy_rate,
        ckan_row_id,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
