with source as (

    select * from {{ source('city', 'solar') }}

),

renamed as (

    select
        site_id,
        site_name,
        operator as operator_name,
        municipality as municipality_name,
        cast(capacity_kwp as double) as capacity_kwp,
        "date" as generation_date,
        cast(energy_kwh as double) as energy_kwh,
        ckan_row_id,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
