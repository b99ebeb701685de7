-- Each product with its current list price: the open-ended price period, or none when the product has no
-- open period (discontinued products keep their row with a null price).
with

products as (

    select * from {{ ref('stg_product__products') }}

),

product_prices as (

    select * from {{ ref('stg_product__product_prices') }}

),

current_prices as (

    select
        product_prices.product_id,
        product_prices.list_price,
        product_prices.currency_code,
        product_prices.valid_from_at,
        row_number() over (
            partition by product_prices.product_id
            order by product_prices.valid_from_at desc, product_prices.loaded_at desc
        ) as price_rank

    from product_prices
    where product_prices.is_current

)

select
    products.product_id,
    products.sku,
    products.product_name,
    products.category,
    products.is_active,
    current_prices.list_price,
    current_prices.currency_code,
    current_prices.valid_from_at as price_valid_from_at,
    products.created_at,
    products.updated_at

from products
left join current_prices
    on
        products.product_id = current_prices.product_id
        and current_prices.price_rank = 1
