with source as (

    select * from {{ source('transit', 'ridership') }}

),

renamed as (

    select
        cast(service_date as date) as service_date,
        municipality_id,
        route_id,
        fare_product,
        cast(tap_ins as bigint) as tap_ins,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
