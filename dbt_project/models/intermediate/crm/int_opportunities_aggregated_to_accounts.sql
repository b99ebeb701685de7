-- Sales signals per account from the latest version of each opportunity, in USD so currencies can be summed.
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

currency_rates as (

    select * from {{ ref('currency_rates') }}

),

ranked as (

    select
        opportunities.*,
        row_number() over (
            partition by opportunities.opportunity_id
            order by opportunities.updated_at desc, opportunities.loaded_at desc
        ) as version_rank

    from opportunities

),

current_opportunities as (

    select
        ranked.opportunity_id,
        ranked.account_id,
        ranked.is_closed,
        ranked.is_won,
        ranked.close_date,
        ranked.amount * currency_rates.usd_rate as amount_usd

    from ranked
    left join currency_rates
        on ranked.currency_code = currency_rates.currency_code
    where ranked.version_rank = 1

)

select
    account_id,
    cast(count(*) as integer) as opportunity_count,
    cast(sum(case when not is_closed then 1 else 0 end) as integer) as open_opportunity_count,
    cast(
        sum(case when not is_closed then coalesce(amount_usd, 0) else 0 end) as numeric(18, 2)
    ) as open_pipeline_amount_usd,
    cast(
        sum(
            case
                when is_won and close_date >= {{ dbt.dateadd('day', -365, as_of_timestamp()) }}
                    then coalesce(amount_usd, 0)
                else 0
            end
        ) as numeric(18, 2)
    ) as won_amount_last_365_days_usd

from current_opportunities
group by account_id
