-- The data service promises one row per account: a join that drops or multiplies accounts fails here.
with

accounts as (

    select account_id from {{ ref('accounts') }}

),

customer_health as (

    select account_id from {{ ref('customer_health') }}

)

select
    coalesce(accounts.account_id, customer_health.account_id) as account_id,
    accounts.account_id is null as is_missing_from_accounts,
    customer_health.account_id is null as is_missing_from_customer_health

from accounts
full outer join customer_health
    on accounts.account_id = customer_health.account_id
where accounts.account_id is null or customer_health.account_id is null
