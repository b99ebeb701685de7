with

accounts as (

    select * from {{ ref('int_accounts_deduplicated') }}

),

countries as (

    select * from {{ ref('countries') }}

)

select
    accounts.account_id,
    accounts.account_name,
    accounts.industry,
    accounts.country_code,
    countries.country_name,
    countries.region,
    accounts.owner_email,
    accounts.annual_revenue,
    accounts.created_at,
    accounts.updated_at

from accounts
left join countries
    on accounts.country_code = countries.country_code
