-- One row per support ticket from its opened / resolved events.
with

events as (

    select * from {{ ref('int_events_deduplicated') }}
    where ticket_id is not null

)

select
    ticket_id,
    max(account_id) as account_id,
    min(case when event_type = 'support_ticket_opened' then occurred_at end) as opened_at,
    min(case when event_type = 'support_ticket_resolved' then occurred_at end) as resolved_at,
    max(case when event_type = 'support_ticket_resolved' then 1 else 0 end) = 0 as is_open

from events
group by ticket_id
