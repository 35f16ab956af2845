select
    municipalities.municipality_id,
    populations.population_year,
    municipalities.name_en,
    municipalities.name_th,
    municipalities.name_th_short,
    municipalities.latitude,
    municipalities.longitude,
    populations.population,
    populations.households,
    populations.is_carried_forward

from {{ ref('municipalities') }} as municipalities
left join {{ ref('int_municipality_populations') }} as populations
    using (municipality_id)
