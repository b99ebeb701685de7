-- An order cannot ship before it is placed or be delivered before it ships; if it does, the pivot picked
-- events from two different orders (a bad key) or time zones got mixed.
select
    order_id,
    ordered_at,
    shipped_at,
    delivered_at

from {{ ref('orders') }}
where
    shipped_at < ordered_at
    or delivered_at < shipped_at
    or cancelled_at < ordered_at
