with source as (

    select * from {{ source('transit', 'gtfs_calendar_dates') }}

),

renamed as (

    select
        service_id,
        cast("date" as date) as service_date,
        cast(exception_type as integer) as exception_type,
        exception_type = 1 as is_service_added,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
