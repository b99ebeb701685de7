with

source as (

    select * from {{ source('operations', 'events') }}

),

renamed as (

    select
        event_id,
        event_type,
        order_id,
        ticket_id,
        account_id,
        product_id,
        cast(quantity as integer) as quantity,
        cast(amount as numeric(18, 2)) as amount,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        kafka_partition,
        kafka_offset,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from renamed
