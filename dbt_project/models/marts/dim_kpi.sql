select
    kpi_id,
    name_en,
    name_th,
    focus_area,
    smart_dimension,
    unit,
    cast(decimals as integer) as decimals,
    direction,
    cast(target as double) as target,
    owner,
    standard_ref,
    grain,
    formula,
    string_split(sources, ' ') as source_tables,
    -- the source whose loaded history bounds how much of a period a value covers
    string_split(sources, ' ')[1] as history_source

from {{ ref('kpi_catalogue') }}
