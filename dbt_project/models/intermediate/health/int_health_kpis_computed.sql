-- Medical & Healthcare KPIs HE01-HE03 in the shape fct_kpi_values unions. Periods: every
-- calendar month (Asia/Bangkok) from the first to the last month with health data (an EMS
-- dispatch by the call's local date, or a complete telemedicine or EHR report by its period
-- start); a month a KPI has no data for gets a row with a null value.

with dispatches as (

    select * from {{ ref('int_ems_dispatches_resolved') }}

),

reports as (

    -- Only final reports: FHIR status 'pending' (still in progress) and 'error' are left out.
    select * from {{ ref('int_measure_reports_resolved') }}
    where is_complete
        and measure_id in ('telemedicine-consultations', 'ehr-coverage')

),

populations as (

    select * from {{ ref('int_municipality_populations') }}

),

municipalities as (

    select * from {{ ref('municipalities') }}

),

dates as (

    select * from {{ ref('dim_date') }}

),

data_months as (

    select cast(date_trunc('month', call_date) as date) as month_start from dispatches
    union
    select period_month as month_start from reports

),

months as (

    select distinct dates.month_start
    from dates
    where dates.month_start between (select min(month_start) from data_months)
        and (select max(month_start) from data_months)

),

-- HE01: call-to-scene minutes of the dispatches that reached the scene, in the month of the
-- call's local date (a call at 23:50 reached at 00:10 counts in the call's month).
response_times as (

    select
        cast(date_trunc('month', call_date) as date) as month_start,
        epoch(scene_arrival_at - call_at) / 60.0 as response_minutes

    from dispatches
    where scene_arrival_at is not null

),

he01 as (

    select
        'HE01' as kpi_id,
        cast(null as varchar) as municipality_id,
        months.month_start as period_start,
        cast(null as double) as numerator,
        cast(count(response_times.response_minutes) as double) as denominator,
        quantile_cont(response_times.response_minutes, 0.5) as value

    from months
    left join response_times on months.month_start = response_times.month_start
    group by months.month_start

),

-- HE02: the month's telemedicine consultations per 1,000 inhabitants, per municipality.
consultations as (

    select
        municipality_id,
        period_month as month_start,
        sum(numerator_count) as consultations

    from reports
    where measure_id = 'telemedicine-consultations'
    group by 1, 2

),

he02 as (

    select
        'HE02' as kpi_id,
        municipalities.municipality_id,
        months.month_start as period_start,
        cast(consultations.consultations as double) as numerator,
        cast(populations.population as double) as denominator,
        case
            when populations.population > 0
                then cast(consultations.consultations as double) * 1000
                / cast(populations.population as double)
        end as value

    from months
    cross join municipalities
    left join consultations
        on municipalities.municipality_id = consultations.municipality_id
        and months.month_start = consultations.month_start
    left join populations
        on municipalities.municipality_id = populations.municipality_id
        and year(months.month_start) = populations.population_year

),

-- HE03: patients with an electronic health record over registered patients, summed over the
-- municipalities that reported the month.
coverage as (

    select
        period_month as month_start,
        sum(numerator_count) as patients_with_ehr,
        sum(denominator_count) as registered_patients

    from reports
    where measure_id = 'ehr-coverage'
    group by 1

),

he03 as (

    select
        'HE03' as kpi_id,
        cast(null as varchar) as municipality_id,
        months.month_start as period_start,
        cast(coverage.patients_with_ehr as double) as numerator,
        cast(coverage.registered_patients as double) as denominator,
        case
            when coverage.registered_patients > 0
                then cast(coverage.patients_with_ehr as double)
                / cast(coverage.registered_patients as double)
        end as value

    from months
    left join coverage on months.month_start = coverage.month_start

),

unioned as (

    select * from he01
    union all
    select * from he02
    union all
    select * from he03

)

select
    {{ kpi_columns(route_id='null', period_grain="'month'") }}

from unioned
