with

source as (

    select * from {{ source('crm', 'accounts') }}

),

renamed as (

    select
        id as account_id,
        name as account_name,
        industry,
        upper(trim(country_code)) as country_code,
        lower(owner_email) as owner_email,
        cast(annual_revenue as numeric(18, 2)) as annual_revenue,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from renamed
