with source as (

    select * from {{ source('university', 'measure_reports') }}

),

renamed as (

    select
        report_id,
        version_id,
        measure as measure_id,
        measure_url,
        municipality_id,
        subject_reference,
        subject_display as municipality_name,
        period_start,
        period_end,
        status as report_status,
        status = 'complete' as is_complete,
        report_type,
        reporter as reporter_name,
        cast(numerator as bigint) as numerator_count,
        cast(denominator as bigint) as denominator_count,
        cast(initial_population as bigint) as initial_population_count,
        cast(measure_score as double) as measure_score,
        measure_score_unit,
        report_date as reported_at,
        last_updated as last_updated_at,
        {{ bangkok_date('last_updated') }} as last_updated_date,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
