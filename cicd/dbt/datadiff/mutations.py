"""One-line changes of the kind that pass review and silently change data: the data diff's benchmark.

Each mutation replaces one exact piece of one line of the project (it must occur exactly once in its file). They
are realistic edits, not random noise: a join type, a filter, a CASE branch, rounding, a COALESCE default, a
dedup key or order, a window, a seed value. Some are equivalent on the synthetic data (no row changes): the
benchmark reports them as such, which is what a reviewer would need to know too.
"""

# One mutation per line reads as a table (file, old text, new text); wrapping them would hide the edit.
# ruff: noqa: E501
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

M = "models/"
STG_ACCOUNTS = M + "staging/crm/stg_crm__accounts.sql"
STG_CONTACTS = M + "staging/crm/stg_crm__contacts.sql"
STG_OPPS = M + "staging/crm/stg_crm__opportunities.sql"
STG_EVENTS = M + "staging/operations/stg_operations__events.sql"
STG_PRICES = M + "staging/product/stg_product__product_prices.sql"
STG_PRODUCTS = M + "staging/product/stg_product__products.sql"
INT_ACCOUNTS = M + "intermediate/crm/int_accounts_deduplicated.sql"
INT_CONTACTS = M + "intermediate/crm/int_contacts_deduplicated.sql"
INT_OPPS = M + "intermediate/crm/int_opportunities_aggregated_to_accounts.sql"
INT_EVENTS = M + "intermediate/operations/int_events_deduplicated.sql"
INT_ORDERS = M + "intermediate/operations/int_orders_pivoted.sql"
INT_TICKETS = M + "intermediate/operations/int_support_tickets_pivoted.sql"
INT_PRODUCTS = M + "intermediate/product/int_products_priced.sql"
ACCOUNTS = M + "marts/crm/accounts.sql"
HEALTH = M + "marts/crm/customer_health.sql"
ORDERS = M + "marts/operations/orders.sql"
PRODUCTS = M + "marts/product/products.sql"


@dataclass(frozen=True)
class Mutation:
    id: str
    category: str
    path: str  # relative to dbt_project/
    old: str
    new: str

    def apply(self, project_dir: Path) -> None:
        """Edit the file in place; a ValueError names the file and the text when it is not there exactly once."""
        path = project_dir / self.path
        text = path.read_text()
        count = text.count(self.old)
        if count != 1:
            raise ValueError(f"mutation {self.id}: {self.path} contains {self.old!r} {count} times, expected once")
        path.write_text(text.replace(self.old, self.new))


def _m(id: str, category: str, path: str, old: str, new: str) -> Mutation:
    return Mutation(id, category, path, old, new)


MUTATIONS: tuple[Mutation, ...] = (
    # staging: rename and cast only, and still easy to get wrong
    _m("stg-country-not-upper", "normalisation", STG_ACCOUNTS, "upper(trim(country_code))", "trim(country_code)"),
    _m("stg-owner-email-case", "normalisation", STG_ACCOUNTS, "lower(owner_email) as owner_email", "owner_email"),
    _m("stg-revenue-no-cents", "rounding", STG_ACCOUNTS, "annual_revenue as numeric(18, 2)", "annual_revenue as numeric(18, 0)"),
    _m("stg-contact-email-case", "normalisation", STG_CONTACTS, "lower(trim(email)) as email", "trim(email) as email"),
    _m("stg-closed-means-won", "CASE branch", STG_OPPS, "stage_name in ('closed_won', 'closed_lost') as is_closed", "stage_name = 'closed_won' as is_closed"),
    _m("stg-won-includes-negotiation", "CASE branch", STG_OPPS, "stage_name = 'closed_won' as is_won", "stage_name in ('closed_won', 'negotiation') as is_won"),
    _m("stg-opportunity-amount-rounded", "rounding", STG_OPPS, "cast(amount as numeric(18, 2)) as amount", "cast(amount as numeric(18, 0)) as amount"),
    _m("stg-event-amount-rounded", "rounding", STG_EVENTS, "cast(amount as numeric(18, 2)) as amount", "cast(round(amount, 0) as numeric(18, 2)) as amount"),
    _m("stg-price-current-flag", "filter", STG_PRICES, "valid_to is null as is_current", "valid_from is not null as is_current"),
    _m("stg-sku-not-upper", "normalisation", STG_PRODUCTS, "upper(sku) as sku", "sku as sku"),
    # intermediate: dedup, pivots, aggregates
    _m("int-account-keeps-oldest", "dedup order", INT_ACCOUNTS, "order by accounts.updated_at desc", "order by accounts.updated_at asc"),
    _m("int-account-dedup-key", "dedup key", INT_ACCOUNTS, "partition by accounts.account_id", "partition by accounts.account_id, accounts.industry"),
    _m("int-account-two-versions", "filter", INT_ACCOUNTS, "where version_rank = 1", "where version_rank <= 2"),
    _m("int-contact-keeps-oldest", "dedup order", INT_CONTACTS, "order by contacts.updated_at desc", "order by contacts.updated_at asc"),
    _m("int-contact-dedup-key", "dedup key", INT_CONTACTS, "partition by contacts.contact_id", "partition by contacts.contact_id, contacts.loaded_at"),
    _m("int-opp-inner-join-rates", "join type", INT_OPPS, "left join currency_rates", "inner join currency_rates"),
    _m("int-opp-dedup-key", "dedup key", INT_OPPS, "partition by opportunities.opportunity_id", "partition by opportunities.account_id"),
    _m("int-opp-keeps-oldest", "dedup order", INT_OPPS, "order by opportunities.updated_at desc", "order by opportunities.updated_at asc"),
    _m("int-opp-no-dedup", "filter", INT_OPPS, "where ranked.version_rank = 1", "where ranked.version_rank >= 1"),
    _m("int-opp-open-count-inverted", "CASE branch", INT_OPPS, "sum(case when not is_closed then 1 else 0 end)", "sum(case when is_closed then 1 else 0 end)"),
    _m("int-opp-pipeline-no-coalesce", "COALESCE default", INT_OPPS, "when not is_closed then coalesce(amount_usd, 0) else 0", "when not is_closed then amount_usd else 0"),
    _m("int-opp-won-default-one", "COALESCE default", INT_OPPS, "then coalesce(amount_usd, 0)\n", "then coalesce(amount_usd, 1)\n"),
    _m("int-opp-won-window-180", "filter", INT_OPPS, "dbt.dateadd('day', -365, as_of_timestamp())", "dbt.dateadd('day', -180, as_of_timestamp())"),
    _m("int-opp-no-fx", "calculation", INT_OPPS, "ranked.amount * currency_rates.usd_rate as amount_usd", "ranked.amount as amount_usd"),
    _m("int-opp-rate-join-lower", "join condition", INT_OPPS, "on ranked.currency_code = currency_rates.currency_code", "on lower(ranked.currency_code) = currency_rates.currency_code"),
    _m("int-event-keeps-last-delivery", "dedup order", INT_EVENTS, "order by events.loaded_at asc", "order by events.loaded_at desc"),
    _m("int-event-dedup-key", "dedup key", INT_EVENTS, "partition by events.event_id", "partition by events.event_id, events.kafka_partition"),
    _m("int-event-no-dedup", "filter", INT_EVENTS, "where delivery_rank = 1", "where delivery_rank <= 2"),
    _m("int-order-drops-cancelled-events", "filter", INT_ORDERS, "where order_id is not null", "where order_id is not null and event_type != 'order_cancelled'"),
    _m("int-order-quantity-sum", "aggregate", INT_ORDERS, "max(case when event_type = 'order_placed' then quantity end)", "sum(case when event_type = 'order_placed' then quantity end)"),
    _m("int-order-shipped-last", "aggregate", INT_ORDERS, "min(case when event_type = 'order_shipped' then occurred_at end)", "max(case when event_type = 'order_shipped' then occurred_at end)"),
    _m("int-order-incomplete-as-placed", "CASE branch", INT_ORDERS, "when ordered_at is null then 'incomplete'", "when ordered_at is null then 'placed'"),
    _m("int-order-cancel-after-delivery", "CASE branch", INT_ORDERS, "when cancelled_at is not null then 'cancelled'", "when cancelled_at is not null and delivered_at is null then 'cancelled'"),
    _m("int-order-late-5-days", "threshold", INT_ORDERS, "> 7 * 24", "> 5 * 24"),
    _m("int-order-late-default-true", "COALESCE default", INT_ORDERS, "        false\n", "        true\n"),
    _m("int-order-account-min", "aggregate", INT_ORDERS, "max(account_id) as account_id", "min(account_id) as account_id"),
    _m("int-ticket-open-inverted", "CASE branch", INT_TICKETS, "then 1 else 0 end) = 0 as is_open", "then 1 else 0 end) = 1 as is_open"),
    _m("int-ticket-opened-only", "filter", INT_TICKETS, "where ticket_id is not null", "where ticket_id is not null and event_type = 'support_ticket_opened'"),
    _m("int-product-inner-join-prices", "join type", INT_PRODUCTS, "left join current_prices", "inner join current_prices"),
    _m("int-product-any-price-period", "filter", INT_PRODUCTS, "where product_prices.is_current", "where product_prices.valid_from_at is not null"),
    _m("int-product-oldest-price", "dedup order", INT_PRODUCTS, "order by product_prices.valid_from_at desc", "order by product_prices.valid_from_at asc"),
    _m("int-product-two-prices", "dedup key", INT_PRODUCTS, "and current_prices.price_rank = 1", "and current_prices.price_rank <= 2"),
    # marts
    _m("mart-accounts-inner-join-countries", "join type", ACCOUNTS, "left join countries", "inner join countries"),
    _m("mart-accounts-country-join-lower", "join condition", ACCOUNTS, "on accounts.country_code = countries.country_code", "on lower(accounts.country_code) = countries.country_code"),
    _m("mart-orders-date-from-shipped", "calculation", ORDERS, "cast(ordered_at as date) as ordered_date", "cast(shipped_at as date) as ordered_date"),
    _m("mart-products-price-default-zero", "COALESCE default", PRODUCTS, "    list_price,\n", "    coalesce(list_price, 0) as list_price,\n"),
    _m("mart-health-contact-default-one", "COALESCE default", HEALTH, "coalesce(contact_signals.contact_count, 0)", "coalesce(contact_signals.contact_count, 1)"),
    _m("mart-health-90-to-30-days", "filter", HEALTH, "dbt.dateadd('day', -90, as_of_timestamp())", "dbt.dateadd('day', -30, as_of_timestamp())"),
    _m("mart-health-recent-60-days", "CASE branch", HEALTH, "when signals.days_since_last_order <= 30 then 30", "when signals.days_since_last_order <= 60 then 30"),
    _m("mart-health-healthy-at-60", "CASE branch", HEALTH, "when raw_score >= 70 then 'healthy'", "when raw_score >= 60 then 'healthy'"),
    _m("mart-health-rate-rounded", "rounding", HEALTH, "cast(cancellation_rate_last_90_days as numeric(5, 4))", "cast(round(cancellation_rate_last_90_days, 1) as numeric(5, 4))"),
    _m("mart-health-rate-type-narrowed", "rounding", HEALTH, "cast(late_delivery_rate_last_90_days as numeric(5, 4))", "cast(late_delivery_rate_last_90_days as numeric(5, 2))"),
    _m("mart-health-revenue-rounded", "rounding", HEALTH, "cast(revenue_last_90_days_usd as numeric(18, 2))", "cast(round(revenue_last_90_days_usd, -2) as numeric(18, 2))"),
    _m("mart-health-inner-join-contacts", "join type", HEALTH, "left join primary_contacts", "inner join primary_contacts"),
    _m("mart-health-inner-join-orders", "join type", HEALTH, "left join order_signals", "inner join order_signals"),
    _m("mart-health-ticket-penalty-cap", "calculation", HEALTH, "least(signals.open_support_ticket_count * 5, 20)", "least(signals.open_support_ticket_count * 5, 10)"),
    _m("mart-health-no-rate-default", "COALESCE default", HEALTH, "nullif(order_signals.order_count_last_90_days, 0), 0)", "nullif(order_signals.order_count_last_90_days, 0), 1)"),
    _m("mart-health-score-not-floored", "calculation", HEALTH, "cast(greatest(least(raw_score, 100), 0) as integer)", "cast(least(raw_score, 100) as integer)"),
    _m("mart-health-primary-contact-max", "aggregate", HEALTH, "min(contacts.email) as primary_contact_email", "max(contacts.email) as primary_contact_email"),
    _m("mart-health-primary-contact-any", "join condition", HEALTH, "and contacts.created_at = contact_signals.first_contact_created_at", "and contacts.created_at >= contact_signals.first_contact_created_at"),
    _m("mart-health-first-order", "aggregate", HEALTH, "max(ordered_at) as last_order_at", "min(ordered_at) as last_order_at"),
    # seeds: not SQL, but a changed seed must select what reads it (dbt compares seeds over 1 MiB by path only)
    _m("seed-eur-rate", "seed value", "seeds/currency_rates.csv", "EUR,1.080000", "EUR,1.100000"),
    _m("seed-mexico-region", "seed value", "seeds/countries.csv", "MX,Mexico,LATAM", "MX,Mexico,NA"),
)  # fmt: skip
