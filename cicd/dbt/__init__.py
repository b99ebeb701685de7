"""dbt helpers: running dbt, emulated Snowflake, schema compatibility, write-audit-publish, masking."""
