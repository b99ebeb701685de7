"""Snowflake portability of the SQL dbt compiled for the prod target, read with sqlglot's Snowflake parser.

fakesnow runs SQL on DuckDB, so it accepts DuckDB-only functions (list_value, strftime, regexp_matches,
struct_pack, ...) and the aggregate FILTER clause that Snowflake rejects. Parsing the compiled SQL as
Snowflake closes that gap: a function the Snowflake dialect does not know is reported, as is FILTER.
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from platform_vocabulary.findings import Finding

# Snowflake built-ins (or the project's UDFs) that sqlglot does not model; extend when a finding is wrong.
KNOWN_FUNCTIONS: frozenset[str] = frozenset()


def _source_file(compiled: Path, compiled_root: Path) -> str:
    # target/compiled/<project>/models/x/y.sql -> dbt_project/models/x/y.sql; a generic test compiles to
    # models/x/_x__models.yml/<test>.sql, which points back at the YAML that declares it.
    relative = list(compiled.relative_to(compiled_root).parts[1:])
    for index, part in enumerate(relative):
        if part.endswith(".yml"):
            relative = relative[: index + 1]
            break
    return "/".join(("dbt_project", *relative))


def check_compiled(compiled_root: Path) -> list[Finding]:
    """Findings for every compiled model that is not valid Snowflake SQL."""
    findings: list[Finding] = []
    for path in sorted(compiled_root.glob("*/models/**/*.sql")):
        source = _source_file(path, compiled_root)
        try:
            statements = sqlglot.parse(path.read_text(), read="snowflake")
        except ParseError as exc:
            first = str(exc).splitlines()[0]
            findings.append(
                Finding(
                    "dbt:snowflake-syntax",
                    f"Snowflake cannot parse the compiled SQL: {first}",
                    source,
                    fix="use Snowflake syntax (DuckDB accepts more); the compiled SQL is under build/dbt/offline",
                )
            )
            continue
        for tree in filter(None, statements):
            for function in tree.find_all(exp.Anonymous):
                name = function.name.lower()
                if name not in KNOWN_FUNCTIONS:
                    findings.append(
                        Finding(
                            "dbt:not-a-snowflake-function",
                            f"{name}() is not a Snowflake function (DuckDB and the emulator accept it)",
                            source,
                            fix="use the Snowflake equivalent or a dbt cross-database macro (dbt.dateadd, ...); "
                            "for a UDF, add it to KNOWN_FUNCTIONS in cicd/dbt/dialect.py",
                        )
                    )
            if any(True for _ in tree.find_all(exp.Filter)):
                findings.append(
                    Finding(
                        "dbt:snowflake-syntax",
                        "aggregate FILTER (WHERE ...) is not supported by Snowflake",
                        source,
                        fix="use sum(case when ... then 1 else 0 end) or count_if(...)",
                    )
                )
    return findings
