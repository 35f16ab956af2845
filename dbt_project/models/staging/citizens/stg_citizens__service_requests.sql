-- One row per observed state of a you-pee ticket (Open311 GeoReport v2): the raw table keeps
-- every state a run saw, keyed by ticket and update time. Times are UTC (the connector turned
-- the +07:00 W3C datetimes into UTC once); the local Bangkok dates sit beside them.
-- The free-text description is not carried: it may hold names, phone numbers and national IDs,
-- and no model needs it.

with source as (

    select * from {{ source('citizens', 'service_requests') }}

),

renamed as (

    select
        service_request_id,
        cast(updated_datetime as timestamptz) as updated_at,
        status,
        status = 'closed' as is_closed,
        status_notes,
        service_code,
        service_name,
        agency_responsible as municipality_name,
        service_notice,
        cast(requested_datetime as timestamptz) as requested_at,
        {{ bangkok_date('requested_datetime') }} as requested_date,
        {{ bangkok_date('updated_datetime') }} as updated_date,
        cast(expected_datetime as timestamptz) as expected_at,
        address,
        address_id,
        zipcode,
        lat as latitude,
        long as longitude,
        media_url,
        media_url is not null as has_media,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
