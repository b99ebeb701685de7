"""What dbt's cross-database macros render to on Snowflake, for sqlfluff's jinja templater.

sqlfluff's `apply_dbt_builtins` provides ref/source/config/var but not the `dbt` macro namespace; the
templater loads this module as `dbt` (see library_path in /.sqlfluff) so `{{ dbt.datediff(...) }}` lints as
the SQL Snowflake will run. Only the macros the models use are needed; an unknown one fails the lint with a
templating error that names it, which is the cue to add it here.
"""


def type_timestamp() -> str:
    return "timestamp_ntz"


def type_string() -> str:
    return "varchar"


def type_int() -> str:
    return "integer"


def type_numeric() -> str:
    return "numeric(28, 6)"


def current_timestamp() -> str:
    return "convert_timezone('UTC', current_timestamp())"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"datediff({datepart}, {first_date}, {second_date})"


def dateadd(datepart: str, interval: int | str, from_date_or_timestamp: str) -> str:
    return f"dateadd({datepart}, {interval}, {from_date_or_timestamp})"


def hash(field: str) -> str:  # shadows the builtin on purpose: mirrors dbt.hash
    return f"md5(cast({field} as varchar))"


def concat(fields: list[str]) -> str:
    return f"({' || '.join(fields)})"
