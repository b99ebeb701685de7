"""What dbt's cross-database macros render to on Snowflake, for sqlfluff's jinja templater.

sqlfluff's `apply_dbt_builtins` provides ref/source/config/var but not the `dbt` macro namespace; the
templater loads this module as `dbt` (see library_path in /.sqlfluff) so `{{ dbt.datediff(...) }}` lints as
the SQL Snowflake will run. Only the macros the models use are needed; an unknown one fails the lint with a
templating error that names it, which is the cue to add it here.
"""


def type_timestamp():
    return "timestamp_ntz"


def type_string():
    return "varchar"


def type_int():
    return "integer"


def type_numeric():
    return "numeric(28, 6)"


def current_timestamp():
    return "convert_timezone('UTC', current_timestamp())"


def datediff(first_date, second_date, datepart):
    return f"datediff({datepart}, {first_date}, {second_date})"


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"dateadd({datepart}, {interval}, {from_date_or_timestamp})"


def hash(field):  # shadows the builtin on purpose: mirrors dbt.hash
    return f"md5(cast({field} as varchar))"


def concat(fields):
    return f"({' || '.join(fields)})"
