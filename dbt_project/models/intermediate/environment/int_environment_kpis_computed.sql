-- Environment KPIs, city-wide, per month (local dates):
--   EN01 days whose city-wide 24-hour mean PM2.5 (the mean of each PM2.5 device's daily mean)
--        is above 37.5 µg/m³ (the Thai standard; exactly 37.5 is not above it): numerator the
--        days above, denominator the days with readings, value = numerator;
--   EN02 solar generation of the sites in the six municipalities, MWh = sum of daily kWh / 1000.

with sensor_days as (

    select * from {{ ref('int_sensor_days_averaged') }}

),

solar as (

    select * from {{ ref('stg_city__solar_outputs') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

pm25_city_days as (

    select
        reading_date,
        avg(pm25_mean_ugm3) as pm25_mean_ugm3

    from sensor_days
    where pm25_reading_count > 0
    group by reading_date

),

en01 as (

    select
        'EN01' as kpi_id,
        cast(date_trunc('month', reading_date) as date) as period_start,
        cast(count(*) filter (where pm25_mean_ugm3 > 37.5) as double) as numerator,
        cast(count(*) as double) as denominator

    from pm25_city_days
    group by 2

),

solar_days as (

    select
        solar.site_id,
        solar.generation_date,
        solar.energy_kwh

    from solar
    inner join aliases on solar.municipality_name = aliases.alias
    where solar.energy_kwh is not null

),

en02 as (

    select
        'EN02' as kpi_id,
        cast(date_trunc('month', generation_date) as date) as period_start,
        sum(energy_kwh) / 1000.0 as numerator

    from solar_days
    group by 2

),

unioned as (

    select
        kpi_id,
        period_start,
        numerator,
        denominator,
        numerator as value
    from en01

    union all

    select
        kpi_id,
        period_start,
        numerator,
        cast(null as double) as denominator,
        numerator as value
    from en02

)

select
    {{ kpi_columns(municipality_id='null', route_id='null', period_grain="'month'") }}

from unioned
