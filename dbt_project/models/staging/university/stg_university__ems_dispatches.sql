with source as (

    select * from {{ source('university', 'ems_dispatches') }}

),

renamed as (

    select
        incident_id,
        call_at,
        {{ bangkok_date('call_at') }} as call_date,
        scene_arrival_at,
        {{ bangkok_date('scene_arrival_at') }} as scene_arrival_date,
        scene_arrival_at is not null as has_scene_arrival,
        call_time_be,
        scene_arrival_time_be,
        municipality_th as municipality_name,
        incident_type_th,
        priority_th,
        response_level,
        hospital_th as hospital_name,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
