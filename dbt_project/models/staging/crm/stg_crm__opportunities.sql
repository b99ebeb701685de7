with

source as (

    select * from {{ source('crm', 'opportunities') }}

),

renamed as (

    select
        id as opportunity_id,
        account_id,
        name as opportunity_name,
        stage_name,
        stage_name in ('closed_won', 'closed_lost') as is_closed,
        stage_name = 'closed_won' as is_won,
        cast(amount as numeric(18, 2)) as amount,
        currency_code,
        cast(close_date as date) as close_date,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from renamed
