-- Each sensor's readings averaged over a local (Asia/Bangkok) day, after removing duplicate
-- uplinks. An uplink is one LoRaWAN frame: device, session address (a rejoin gives a new one,
-- and the frame counter restarts) and frame counter, on a local day. The same ChirpStack event
-- delivered twice (same uplink_id) or the same frame delivered again under another id is
-- counted once: the earliest delivery is kept. An uplink without a frame counter (fCnt is
-- optional for encoders other than ChirpStack's) is told apart by its own id only.
-- A broken sensor's -1, a missing reading and anything outside 0-1000 are not readings.

with uplinks as (

    select * from {{ ref('stg_city__sensor_uplinks') }}

),

frames as (

    select
        *,
        row_number() over (
            partition by
                device_id,
                device_address,
                coalesce(cast(frame_count as varchar), 'id:' || uplink_id),
                uplinked_date
            order by uplinked_at, network_received_at, uplink_id, loaded_at desc
        ) as frame_delivery

    from uplinks

),

deduplicated as (

    select
        device_id,
        municipality_id,
        frame_port,
        uplinked_date,
        uplinked_at,
        case when pm25_ugm3 between 0 and 1000 then pm25_ugm3 end as pm25_ugm3,
        case when water_level_cm between 0 and 1000 then water_level_cm end as water_level_cm

    from frames
    where frame_delivery = 1

),

averaged as (

    select
        device_id,
        uplinked_date as reading_date,
        arg_max(municipality_id, uplinked_at) as municipality_id,
        arg_max(frame_port, uplinked_at) as frame_port,
        count(*) as uplink_count,
        count(pm25_ugm3) as pm25_reading_count,
        avg(pm25_ugm3) as pm25_mean_ugm3,
        count(water_level_cm) as water_level_reading_count,
        avg(water_level_cm) as water_level_mean_cm

    from deduplicated
    group by device_id, uplinked_date

)

select * from averaged
