-- KKU MeasureReports with the municipality resolved through seed municipality_aliases (the
-- seed maps each municipality id to itself, and the connector already turned the FHIR Location
-- into an id). A report about a place the seed does not know is left out here
-- (stg_university__measure_reports' relationships test fails on it).

with reports as (

    select * from {{ ref('stg_university__measure_reports') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

resolved as (

    select
        reports.report_id,
        reports.measure_id,
        aliases.municipality_id,
        reports.period_start,
        reports.period_end,
        cast(date_trunc('month', reports.period_start) as date) as period_month,
        reports.report_status,
        reports.is_complete,
        reports.numerator_count,
        reports.denominator_count,
        reports.measure_score,
        reports.version_id,
        reports.last_updated_at

    from reports
    inner join aliases on reports.municipality_id = aliases.alias

)

select * from resolved
