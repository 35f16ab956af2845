-- The lifecycle of each you-pee ticket, folded from every state the pipelines observed.
-- The ticket's attributes (municipality, service, times) are those of its latest state.
-- Every observed closed state is a closure, at its updated_at. A ticket is reopened when any
-- state follows a closed one: an open state, or a later closed state (the channel moves
-- updated_datetime only when the ticket changes state, so closed, then closed again later,
-- means it was reopened and closed again between two runs).
-- How a reopened ticket counts in the KPIs: it is closed when its latest state is closed, at
-- that state's time (closed_at, its final closure); while it is open again it has no
-- closed_at, and its earlier closures stay in first_closed_at and last_closed_at.

with states as (

    select * from {{ ref('stg_citizens__service_requests') }}

),

aliases as (

    select * from {{ ref('municipality_aliases') }}

),

sequenced as (

    select
        *,
        lag(status) over (
            partition by service_request_id order by updated_at
        ) as previous_status,
        row_number() over (
            partition by service_request_id order by updated_at desc
        ) as recency

    from states

),

history as (

    select
        service_request_id,
        count(*) as state_count,
        min(updated_at) filter (where is_closed) as first_closed_at,
        max(updated_at) filter (where is_closed) as last_closed_at,
        count(*) filter (where is_closed) as closure_count,
        count(*) filter (where previous_status = 'closed') as reopen_count,
        max(updated_at) as last_updated_at

    from sequenced
    group by service_request_id

),

current_states as (

    select * from sequenced
    where recency = 1

),

lifecycled as (

    select
        current_states.service_request_id,
        aliases.municipality_id,
        current_states.municipality_name,
        current_states.service_code,
        current_states.requested_at,
        current_states.expected_at,
        current_states.status,
        current_states.is_closed,
        history.first_closed_at,
        history.last_closed_at,
        case when current_states.is_closed then current_states.updated_at end as closed_at,
        history.closure_count,
        history.reopen_count,
        history.reopen_count > 0 as is_reopened,
        history.state_count,
        history.last_updated_at

    from current_states
    inner join history on current_states.service_request_id = history.service_request_id
    left join aliases on current_states.municipality_name = aliases.alias

),

final as (

    select
        service_request_id,
        municipality_id,
        municipality_name,
        service_code,
        requested_at,
        {{ bangkok_date('requested_at') }} as requested_date,
        expected_at,
        status,
        is_closed,
        first_closed_at,
        last_closed_at,
        closed_at,
        {{ bangkok_date('closed_at') }} as closed_date,
        closure_count,
        reopen_count,
        is_reopened,
        state_count,
        last_updated_at,
        {{ bangkok_date('last_updated_at') }} as last_updated_date

    from lifecycled

)

select * from final
