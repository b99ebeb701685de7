{#-
    The instant time-windowed signals ("last 90 days") are measured from. Production leaves `as_of` unset and
    gets the current UTC time; CI pins it to the synthetic data's fixed "now" so results do not drift with the
    wall clock, and unit tests pin it per case.
-#}
{% macro as_of_timestamp() -%}
    {%- if var('as_of', none) -%}
        cast('{{ var("as_of") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
