-- The CRM extract appends a row per saved version; keep the latest one per account. A re-extract can repeat
-- updated_at, so the landing time breaks the tie.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

ranked as (

    select
        accounts.*,
        row_number() over (
            partition by accounts.account_id
            order by accounts.updated_at desc, accounts.loaded_at desc
        ) as version_rank

    from accounts

)

select
    account_id,
    account_name,
    industry,
    country_code,
    owner_email,
    annual_revenue,
    created_at,
    updated_at

from ranked
where version_rank = 1
