{#-
    Where each model lands.

    Normal runs: <target schema>_<folder schema> (e.g. analytics_marts), dbt's default.
    Write-audit-publish runs (var wap_release set by `python -m cicd dbt wap`): marts land in
    <target schema>_marts__<release> and every other model in <target schema>_work__<release>. Consumers
    read <target schema>_marts, which nothing in this run touches until the publish step swaps the
    audited release schema in atomically (cicd/dbt/wap.py, docs/dbt.md).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set release = var('wap_release', none) -%}
    {%- set base = target.schema | trim -%}
    {%- if release and node.resource_type in ('model', 'seed', 'snapshot') -%}
        {%- if custom_schema_name == 'marts' -%}
            {{ base }}_marts__{{ release | lower }}
        {%- else -%}
            {{ base }}_work__{{ release | lower }}
        {%- endif -%}
    {%- elif custom_schema_name is none -%}
        {{ base }}
    {%- else -%}
        {{ base }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
