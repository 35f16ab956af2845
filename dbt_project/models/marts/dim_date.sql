-- One row per calendar day, 2020-2031, with the Buddhist-era year and the Thai fiscal year
-- (1 October to 30 September, named after the year it ends: FY 2569 BE runs from 1 October
-- 2025 to 30 September 2026).

with days as (

    select cast(range as date) as date_day
    from range(date '2020-01-01', date '2032-01-01', interval 1 day)

)

select
    date_day,
    cast(extract(year from date_day) as integer) as year_ce,
    cast(extract(year from date_day) as integer) + 543 as year_be,
    cast(extract(month from date_day) as integer) as month_of_year,
    cast(date_trunc('month', date_day) as date) as month_start,
    cast(date_trunc('year', date_day) as date) as year_start,
    cast(extract(isoyear from date_day) as integer) as iso_year,
    cast(extract(week from date_day) as integer) as iso_week,
    cast(extract(isodow from date_day) as integer) as iso_day_of_week,
    cast(extract(year from date_day + interval 3 month) as integer) as fiscal_year_ce,
    cast(extract(year from date_day + interval 3 month) as integer) + 543 as fiscal_year_be,
    cast(
        make_date(cast(extract(year from date_day + interval 3 month) as integer) - 1, 10, 1)
        as date
    ) as fiscal_year_start

from days
