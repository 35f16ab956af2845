with source as (

    select * from {{ source('city', 'sensor_uplinks') }}

),

renamed as (

    select
        deduplication_id as uplink_id,
        dev_eui as device_id,
        device_name,
        device_profile as device_profile_name,
        device_profile_id,
        municipality_id,
        site_name,
        device_latitude,
        device_longitude,
        dev_addr as device_address,
        f_cnt as frame_count,
        f_port as frame_port,
        cast(pm25 as double) as pm25_ugm3,
        cast(water_level_cm as double) as water_level_cm,
        cast(battery as double) as battery_percent,
        gateway_count,
        best_gateway_id,
        best_rssi as best_rssi_dbm,
        best_snr as best_snr_db,
        adr as is_adaptive_data_rate,
        confirmed as is_confirmed,
        "time" as uplinked_at,
        {{ bangkok_date('"time"') }} as uplinked_date,
        ns_time as network_received_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
