select
    order_id,
    account_id,
    product_id,
    quantity,
    order_amount,
    status,
    ordered_at,
    cast(ordered_at as date) as ordered_date,
    shipped_at,
    delivered_at,
    cancelled_at,
    is_delivered_late

from {{ ref('int_orders_pivoted') }}
