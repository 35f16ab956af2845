-- Each community's population per year with the great-circle (haversine, R = 6371 km) distance
-- from its centroid to the nearest stop of the current GTFS feed (location_type 0 or null: stops
-- and platforms where passengers board). The community's municipality, named in Thai either way,
-- is resolved through the seed municipality_aliases.

with communities as (

    select * from {{ ref('stg_city__community_populations') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

stops as (

    select * from {{ ref('stg_transit__stops') }}
    where coalesce(location_type, 0) = 0
        and latitude is not null
        and longitude is not null

),

resolved as (

    select
        communities.community_id,
        communities.community_name,
        aliases.municipality_id,
        communities.population_year,
        communities.population,
        communities.latitude,
        communities.longitude

    from communities
    inner join aliases on communities.municipality_name = aliases.alias

),

distances as (

    select
        resolved.community_id,
        resolved.population_year,
        stops.stop_id,
        2 * 6371.0 * asin(sqrt(
            power(sin(radians(stops.latitude - resolved.latitude) / 2), 2)
            + cos(radians(resolved.latitude)) * cos(radians(stops.latitude))
            * power(sin(radians(stops.longitude - resolved.longitude) / 2), 2)
        )) as distance_km

    from resolved
    cross join stops
    where resolved.latitude is not null
        and resolved.longitude is not null

),

nearest as (

    select
        community_id,
        population_year,
        arg_min(stop_id, distance_km) as nearest_stop_id,
        min(distance_km) as nearest_stop_distance_km

    from distances
    group by 1, 2

),

final as (

    select
        resolved.community_id,
        resolved.community_name,
        resolved.municipality_id,
        resolved.population_year,
        resolved.population,
        resolved.latitude,
        resolved.longitude,
        nearest.nearest_stop_id,
        nearest.nearest_stop_distance_km,
        coalesce(nearest.nearest_stop_distance_km <= 0.5, false) as is_within_500m_of_stop

    from resolved
    left join nearest
        on resolved.community_id = nearest.community_id
        and resolved.population_year = nearest.population_year

)

select * from final
