-- One row per order from its lifecycle events. Events can arrive out of order or late (a shipped event may
-- land before its order_placed), so every field is taken from whichever events are present; an order whose
-- order_placed has not landed yet is kept with status 'incomplete' rather than dropped.
with

events as (

    select * from {{ ref('int_events_deduplicated') }}
    where order_id is not null

),

pivoted as (

    select
        order_id,
        max(account_id) as account_id,
        max(product_id) as product_id,
        max(case when event_type = 'order_placed' then quantity end) as quantity,
        max(case when event_type = 'order_placed' then amount end) as order_amount,
        min(case when event_type = 'order_placed' then occurred_at end) as ordered_at,
        min(case when event_type = 'order_shipped' then occurred_at end) as shipped_at,
        min(case when event_type = 'order_delivered' then occurred_at end) as delivered_at,
        min(case when event_type = 'order_cancelled' then occurred_at end) as cancelled_at

    from events
    group by order_id

)

select
    order_id,
    account_id,
    product_id,
    quantity,
    order_amount,
    case
        when ordered_at is null then 'incomplete'
        when cancelled_at is not null then 'cancelled'
        when delivered_at is not null then 'delivered'
        when shipped_at is not null then 'shipped'
        else 'placed'
    end as status,
    ordered_at,
    shipped_at,
    delivered_at,
    cancelled_at,
    coalesce(
        delivered_at is not null
        and {{ dbt.datediff('ordered_at', 'delivered_at', 'hour') }} > 7 * 24,
        false
    ) as is_delivered_late

from pivoted
