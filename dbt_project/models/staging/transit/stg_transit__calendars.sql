with source as (

    select * from {{ source('transit', 'gtfs_calendar') }}

),

renamed as (

    select
        service_id,
        monday = 1 as is_monday_served,
        tuesday = 1 as is_tuesday_served,
        wednesday = 1 as is_wednesday_served,
        thursday = 1 as is_thursday_served,
        friday = 1 as is_friday_served,
        saturday = 1 as is_saturday_served,
        sunday = 1 as is_sunday_served,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
