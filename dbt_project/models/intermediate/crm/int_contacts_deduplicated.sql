-- The CRM extract appends a row per saved version of a contact and re-sends whole pages (exact duplicate rows):
-- keep the latest version per contact. A re-sent page repeats updated_at, so the landing time breaks the tie.
with

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

ranked as (

    select
        contacts.*,
        row_number() over (
            partition by contacts.contact_id
            order by contacts.updated_at desc, contacts.loaded_at desc
        ) as version_rank

    from contacts

)

select
    contact_id,
    account_id,
    first_name,
    last_name,
    email,
    phone,
    job_title,
    created_at,
    updated_at

from ranked
where version_rank = 1
