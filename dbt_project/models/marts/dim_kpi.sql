select
    kpi_id,
    name_en,
    name_th,
    focus_area,
    smart_dimension,
    unit,
    direction,
    cast(target as double) as target,
    owner,
    standard_ref,
    grain,
    formula,
    string_split(sources, ' ') as source_tables

from {{ ref('kpi_catalogue') }}
