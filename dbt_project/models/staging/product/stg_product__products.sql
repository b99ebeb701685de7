with

source as (

    select * from {{ source('product', 'products') }}

),

renamed as (

    select
        id as product_id,
        upper(sku) as sku,
        name as product_name,
        category,
        is_active,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from renamed
