-- EMS dispatches of the research export with the municipality resolved from its Thai name
-- (either spelling) through seed municipality_aliases. A dispatch whose name the seed does not
-- know is left out here (stg_university__ems_dispatches' relationships test fails on it).

with dispatches as (

    select * from {{ ref('stg_university__ems_dispatches') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

resolved as (

    select
        dispatches.incident_id,
        aliases.municipality_id,
        dispatches.municipality_name,
        dispatches.call_at,
        dispatches.call_date,
        dispatches.scene_arrival_at,
        dispatches.has_scene_arrival,
        dispatches.incident_type_th,
        dispatches.priority_th,
        dispatches.response_level,
        dispatches.hospital_name

    from dispatches
    inner join aliases on dispatches.municipality_name = aliases.alias

)

select * from resolved
