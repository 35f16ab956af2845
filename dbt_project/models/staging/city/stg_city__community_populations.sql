with source as (

    select * from {{ source('city', 'population') }}

),

renamed as (

    select
        community_code as community_id,
        community_name,
        municipality as municipality_name,
        cast(year_ce as integer) as population_year,
        cast(year_be as integer) as population_year_be,
        population,
        households,
        latitude,
        longitude,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
