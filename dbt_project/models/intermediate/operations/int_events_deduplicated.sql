-- Kafka delivers at least once: a redelivered message keeps its event_id. Keep the first delivery so that
-- landing metadata (offset, loaded_at) is stable across reruns.
with

events as (

    select * from {{ ref('stg_operations__events') }}

),

ranked as (

    select
        events.*,
        row_number() over (
            partition by events.event_id
            order by events.loaded_at asc, events.kafka_partition asc, events.kafka_offset asc
        ) as delivery_rank

    from events

)

select
    event_id,
    event_type,
    order_id,
    ticket_id,
    account_id,
    product_id,
    quantity,
    amount,
    occurred_at,
    kafka_partition,
    kafka_offset,
    loaded_at

from ranked
where delivery_rank = 1
