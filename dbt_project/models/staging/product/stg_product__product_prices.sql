with

source as (

    select * from {{ source('product', 'product_prices') }}

),

renamed as (

    select
        id as product_price_id,
        product_id,
        currency_code,
        cast(list_price as numeric(18, 2)) as list_price,
        cast(valid_from as {{ dbt.type_timestamp() }}) as valid_from_at,
        cast(valid_to as {{ dbt.type_timestamp() }}) as valid_to_at,
        valid_to is null as is_current,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from renamed
