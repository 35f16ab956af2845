with source as (

    select * from {{ source('city', 'mice_events') }}

),

renamed as (

    select
        event_id,
        event_name,
        event_type,
        venue as venue_name,
        municipality as municipality_name,
        start_date,
        end_date,
        cast(domestic_attendees as bigint) as domestic_attendees,
        cast(international_attendees as bigint) as international_attendees,
        cast(revenue_thb as double) as revenue_thb,
        ckan_row_id,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
