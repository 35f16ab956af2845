-- Population per municipality and calendar year, from the communities' counts. A year the
-- portal has not published yet carries the latest published year forward (is_carried_forward).

with communities as (

    select * from {{ ref('stg_city__community_populations') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

published as (

    select
        aliases.municipality_id,
        communities.population_year,
        sum(communities.population) as population,
        sum(communities.households) as households

    from communities
    inner join aliases on communities.municipality_name = aliases.alias
    group by 1, 2

),

years as (

    select distinct extract(year from date_day)::integer as population_year
    from {{ ref('dim_date') }}
    where date_day <= {{ pipeline_today() }} + interval 1 year

),

municipality_years as (

    select
        municipalities.municipality_id,
        years.population_year

    from {{ ref('municipalities') }} as municipalities
    cross join years
    where years.population_year >= (select min(population_year) from published)

),

carried as (

    select
        municipality_years.municipality_id,
        municipality_years.population_year,
        published.population_year as published_year,
        published.population,
        published.households,
        row_number() over (
            partition by municipality_years.municipality_id, municipality_years.population_year
            order by published.population_year desc
        ) as recency

    from municipality_years
    inner join published
        on municipality_years.municipality_id = published.municipality_id
        and published.population_year <= municipality_years.population_year

)

select
    municipality_id,
    population_year,
    population,
    households,
    published_year,
    published_year <> population_year as is_carried_forward

from carried
where recency = 1
