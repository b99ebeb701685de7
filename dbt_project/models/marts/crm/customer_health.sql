-- Health signals per account across CRM, product usage (orders) and operations (support), and a 0-100 score.
-- Published as a Globant Enterprise AI data service: every column is documented in _crm__models.yml.
with

accounts as (

    select * from {{ ref('accounts') }}

),

contacts as (

    select * from {{ ref('int_contacts_deduplicated') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_aggregated_to_accounts') }}

),

orders as (

    select * from {{ ref('orders') }}

),

support_tickets as (

    select * from {{ ref('int_support_tickets_pivoted') }}

),

contact_signals as (

    select
        account_id,
        cast(count(*) as integer) as contact_count,
        min(created_at) as first_contact_created_at

    from contacts
    group by account_id

),

primary_contacts as (

    -- The earliest-created contact is the account's primary one; the e-mail breaks ties deterministically.
    select
        contacts.account_id,
        min(contacts.email) as primary_contact_email

    from contacts
    inner join contact_signals
        on
            contacts.account_id = contact_signals.account_id
            and contacts.created_at = contact_signals.first_contact_created_at
    group by contacts.account_id

),

order_signals as (

    select
        account_id,
        cast(count(*) as integer) as order_count_last_90_days,
        cast(sum(coalesce(order_amount, 0)) as numeric(18, 2)) as revenue_last_90_days_usd,
        cast(count(distinct product_id) as integer) as distinct_products_last_90_days,
        sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        sum(case when is_delivered_late then 1 else 0 end) as late_deliveries,
        sum(case when delivered_at is not null then 1 else 0 end) as delivered_orders

    from orders
    where ordered_at >= {{ dbt.dateadd('day', -90, as_of_timestamp()) }}
    group by account_id

),

last_orders as (

    select
        account_id,
        max(ordered_at) as last_order_at

    from orders
    group by account_id

),

ticket_signals as (

    select
        account_id,
        cast(sum(case when is_open then 1 else 0 end) as integer) as open_support_ticket_count

    from support_tickets
    group by account_id

),

signals as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.industry,
        accounts.region,
        accounts.owner_email,
        primary_contacts.primary_contact_email,
        coalesce(contact_signals.contact_count, 0) as contact_count,
        coalesce(opportunities.open_pipeline_amount_usd, 0) as open_pipeline_amount_usd,
        coalesce(opportunities.won_amount_last_365_days_usd, 0) as won_amount_last_365_days_usd,
        coalesce(order_signals.order_count_last_90_days, 0) as order_count_last_90_days,
        coalesce(order_signals.revenue_last_90_days_usd, 0) as revenue_last_90_days_usd,
        coalesce(order_signals.distinct_products_last_90_days, 0) as distinct_products_last_90_days,
        coalesce(order_signals.cancelled_orders * 1.0 / nullif(order_signals.order_count_last_90_days, 0), 0)
            as cancellation_rate_last_90_days,
        coalesce(order_signals.late_deliveries * 1.0 / nullif(order_signals.delivered_orders, 0), 0)
            as late_delivery_rate_last_90_days,
        coalesce(ticket_signals.open_support_ticket_count, 0) as open_support_ticket_count,
        last_orders.last_order_at,
        {{ dbt.datediff('last_orders.last_order_at', as_of_timestamp(), 'day') }} as days_since_last_order,
        {{ as_of_timestamp() }} as as_of_at

    from accounts
    left join contact_signals
        on accounts.account_id = contact_signals.account_id
    left join primary_contacts
        on accounts.account_id = primary_contacts.account_id
    left join opportunities
        on accounts.account_id = opportunities.account_id
    left join order_signals
        on accounts.account_id = order_signals.account_id
    left join last_orders
        on accounts.account_id = last_orders.account_id
    left join ticket_signals
        on accounts.account_id = ticket_signals.account_id

),

scored as (

    select
        signals.*,
        20
        + case
            when signals.days_since_last_order <= 30 then 30
            when signals.days_since_last_order <= 90 then 15
            else 0
        end
        + least(signals.order_count_last_90_days, 10) * 2
        + case when signals.open_pipeline_amount_usd > 0 then 10 else 0 end
        + case when signals.won_amount_last_365_days_usd > 0 then 10 else 0 end
        + case when signals.contact_count > 0 then 10 else 0 end
        - least(signals.open_support_ticket_count * 5, 20)
        - case when signals.cancellation_rate_last_90_days > 0.2 then 10 else 0 end
        - case when signals.late_delivery_rate_last_90_days > 0.2 then 10 else 0 end
            as raw_score

    from signals

)

select
    account_id,
    account_name,
    industry,
    region,
    owner_email,
    primary_contact_email,
    contact_count,
    cast(open_pipeline_amount_usd as numeric(18, 2)) as open_pipeline_amount_usd,
    cast(won_amount_last_365_days_usd as numeric(18, 2)) as won_amount_last_365_days_usd,
    order_count_last_90_days,
    cast(revenue_last_90_days_usd as numeric(18, 2)) as revenue_last_90_days_usd,
    distinct_products_last_90_days,
    cast(cancellation_rate_last_90_days as numeric(5, 4)) as cancellation_rate_last_90_days,
    cast(late_delivery_rate_last_90_days as numeric(5, 4)) as late_delivery_rate_last_90_days,
    open_support_ticket_count,
    last_order_at,
    cast(days_since_last_order as integer) as days_since_last_order,
    cast(greatest(least(raw_score, 100), 0) as integer) as health_score,
    case
        when raw_score >= 70 then 'healthy'
        when raw_score >= 40 then 'at_risk'
        else 'critical'
    end as health_status,
    as_of_at

from scored
