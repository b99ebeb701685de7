select
    product_id,
    sku,
    product_name,
    category,
    is_active,
    list_price,
    currency_code,
    price_valid_from_at,
    created_at,
    updated_at

from {{ ref('int_products_priced') }}
