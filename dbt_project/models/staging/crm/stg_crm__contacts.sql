with

source as (

    select * from {{ source('crm', 'contacts') }}

),

renamed as (

    select
        id as contact_id,
        account_id,
        first_name,
        last_name,
        lower(trim(email)) as email,
        phone,
        job_title,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from renamed
