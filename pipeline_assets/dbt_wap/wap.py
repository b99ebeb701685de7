"""Write-audit-publish for production dbt runs, and rollback by swapping back.

1. **Write**: clone the published marts schema into a release schema named for the release *and* the
   selector (zero-copy, so marts the selector does not rebuild carry over), then `dbt build --vars
   {wap_release: <tag>}` builds the selected marts into it and everything upstream into a work schema of
   the same tag (macros/generate_schema_name.sql).
2. **Audit**: the same `dbt build` runs every data test on the release schema; any failure stops here and
   consumers never see the release (the release schema is kept for inspection).
3. **Publish**: grant the reader roles on the release schema, then `ALTER SCHEMA <release> SWAP WITH
   <published>` — one atomic metadata operation. The schema that held the previous data is renamed
   `<published>__previous` and kept when another release published it (a release's own earlier publish is
   dropped instead): rollback is the same swap again (`rollback_statements`) and lands on the last publish
   of the release before.

Two pipelines of one release publish through the same marts schema: each clones it, builds, then swaps.
Run side by side, the second swap would throw away the first one's publish (it cloned before that swap),
so the transform tasks share an Airflow pool of one slot (platform_dags.dbt.WAP_POOL), and their release
and work schemas never collide (`release_tag`).

Only marts are swapped, and marts are tables: a swapped schema holds data, not views pointing at names that
the swap just changed. The raw landing schemas are never swapped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_assets.dbt_wap.runner import DbtWorkspace, run_dbt

Executor = Callable[[str], list[tuple[Any, ...]]]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class WapError(Exception):
    pass


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise WapError(f"{what} {value!r} is not a plain Snowflake identifier (letters, digits, _ and $)")
    return value.lower()


# Room for `<schema>_marts__` in front within Snowflake's 255 characters, and short enough to read in a UI.
TAG_MAX = 80
_DIGEST_CHARS = 10


def _slug(value: str, what: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
    if not slug:
        raise WapError(f"{what} {value!r} has no letters or digits")
    return slug


def release_tag(release_id: str, selector: str) -> str:
    """The release id and the selector as one schema-name suffix: `r_1a2b__crm_accounts`.

    Deterministic (a retried task reuses its schema) and distinct per selector. A tag longer than
    TAG_MAX keeps its start and ends in a digest of the whole, so two long names stay apart.
    """
    tag = f"{_slug(release_id, 'release id')}__{_slug(selector, 'selector')}"
    if len(tag) <= TAG_MAX:
        return tag
    digest = hashlib.sha256(tag.encode()).hexdigest()[:_DIGEST_CHARS]
    return f"{tag[: TAG_MAX - _DIGEST_CHARS - 1].rstrip('_')}_{digest}"


@dataclass(frozen=True)
class WapPlan:
    database: str
    target_schema: str  # the profile's schema, e.g. analytics
    release_id: str
    selector: str  # the pipeline's dbt selector: one release schema per (release, selector)
    reader_roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _identifier(self.database, "database")
        _identifier(self.target_schema, "schema")
        for role in self.reader_roles:
            _identifier(role, "role")

    @property
    def tag(self) -> str:
        return release_tag(self.release_id, self.selector)

    def _qualified(self, schema: str) -> str:
        return f"{self.database.lower()}.{schema}"

    @property
    def published(self) -> str:
        return self._qualified(f"{self.target_schema.lower()}_marts")

    @property
    def release(self) -> str:
        return self._qualified(f"{self.target_schema.lower()}_marts__{self.tag}")

    @property
    def work(self) -> str:
        return self._qualified(f"{self.target_schema.lower()}_work__{self.tag}")

    @property
    def previous(self) -> str:
        return self._qualified(f"{self.target_schema.lower()}_marts__previous")

    def schema_comment_sql(self, qualified: str) -> str:
        database, schema = qualified.split(".")
        return (
            f"select comment from {database}.information_schema.schemata "  # noqa: S608 (validated identifiers)
            f"where schema_name = '{schema.upper()}'"
        )

    def schema_exists_sql(self, qualified: str) -> str:
        database, schema = qualified.split(".")
        return (
            f"select count(*) from {database}.information_schema.schemata "  # noqa: S608 (validated identifiers)
            f"where schema_name = '{schema.upper()}'"
        )

    def write_statements(self, published_exists: bool) -> list[str]:
        """Prepare the release schema before dbt builds into it."""
        if published_exists:
            return [f"create or replace schema {self.release} clone {self.published}"]
        return [f"create schema if not exists {self.release}"]

    def publish_statements(self, published_exists: bool, *, replaces_own_publish: bool = False) -> list[str]:
        """Swap the audited schema in. The outgoing data becomes the previous schema only when another release
        published it: with `replaces_own_publish` (this release published before, e.g. its other pipeline or
        a rerun) it is dropped, so the previous schema keeps the last publish of the release before this one,
        which is what a rollback of this release must swap back."""
        # Every statement names this plan's release schema or the shared published/previous ones, never
        # another selector's release schema: a publish moves exactly what its own audit passed.
        statements: list[str] = []
        for role in self.reader_roles:
            # Grants on a schema travel with it in a swap: the release schema must carry the readers' grants.
            statements += [
                f"grant usage on schema {self.release} to role {role.lower()}",
                f"grant select on all tables in schema {self.release} to role {role.lower()}",
            ]
        if published_exists and replaces_own_publish:
            statements += [
                f"alter schema {self.release} swap with {self.published}",
                f"drop schema {self.release}",
            ]
        elif published_exists:
            statements += [
                f"alter schema {self.release} swap with {self.published}",
                f"drop schema if exists {self.previous}",
                f"alter schema {self.release} rename to {self.previous}",
            ]
        else:
            statements.append(f"alter schema {self.release} rename to {self.published}")
        statements += [
            f"comment on schema {self.published} is 'published release {self.release_id} ({self.selector})'",
            f"drop schema if exists {self.work}",
        ]
        return statements

    def rollback_statements(self) -> list[str]:
        """Swap the kept previous release back in; running it again re-applies the newer one."""
        return [
            f"alter schema {self.previous} swap with {self.published}",
            f"comment on schema {self.published} is 'rolled back from release {self.release_id}'",
        ]


@dataclass
class WapResult:
    published: bool
    statements: list[str]
    dbt_returncode: int | None
    message: str


def _exists(executor: Executor, plan: WapPlan, qualified: str) -> bool:
    rows = executor(plan.schema_exists_sql(qualified))
    return bool(rows and rows[0][0])


def _comment(executor: Executor, plan: WapPlan, qualified: str) -> str:
    rows = executor(plan.schema_comment_sql(qualified))
    return str(rows[0][0]) if rows and rows[0][0] is not None else ""


def run(
    plan: WapPlan,
    *,
    executor: Executor,
    build: Callable[[], int],
) -> WapResult:
    """Write, audit, publish. `build` runs dbt (returns its exit code); nothing is published unless it is 0."""
    executed: list[str] = []
    published_exists = _exists(executor, plan, plan.published)
    for statement in plan.write_statements(published_exists):
        executor(statement)
        executed.append(statement)
    code = build()
    if code != 0:
        return WapResult(
            False,
            executed,
            code,
            f"audit failed (dbt exit {code}): nothing published; {plan.release} is kept for inspection",
        )
    own = published_exists and _comment(executor, plan, plan.published).startswith(published_by(plan.release_id))
    for statement in plan.publish_statements(published_exists, replaces_own_publish=own):
        executor(statement)
        executed.append(statement)
    return WapResult(True, executed, code, f"published {plan.release_id} as {plan.published}")


def published_by(release_id: str) -> str:
    """How a publish names itself in the schema comment (publish_statements); a swap carries it along."""
    return f"published release {release_id} ("


def rollback(plan: WapPlan, *, executor: Executor, restores: str | None = None) -> WapResult:
    """Swap the previous schema back in; with `restores`, only if it holds that release's last publish.

    The previous schema holds the last publish of the release before the published one, however often that one
    published (publish_statements). Two releases since `restores` (A, B, C; rolling back to A) it holds B's
    data, and swapping it in would look like a rollback and not be one: refused, naming Time Travel.
    """
    if not _exists(executor, plan, plan.previous):
        raise WapError(f"{plan.previous} does not exist: there is no previous release to swap back")
    if restores is not None:
        comment = _comment(executor, plan, plan.previous)
        if not comment.startswith(published_by(restores)):
            raise WapError(
                f"{plan.previous} holds {comment or 'an unlabelled publish'!r}, not the last publish of {restores}: "
                f"swapping it in would not restore {restores}'s data. Restore with Time Travel from before the first "
                f"publish of {plan.release_id} (clone the tables `at (timestamp => ...)` into a schema and swap it in)"
            )
    executed = []
    for statement in plan.rollback_statements():
        executor(statement)
        executed.append(statement)
    return WapResult(True, executed, None, f"swapped {plan.previous} back into {plan.published}")


def record_row_counts(executor: Executor, plan: WapPlan, run_results: Path) -> dict[str, int]:
    """Count the rows of every model the audit built into the release schema and record them in run_results.json.

    The data-quality canary compares key row counts between releases (`rows_affected`). dbt reports real counts
    for inserts and merges only: a table built by CREATE TABLE AS reports a status row on Snowflake (1) and
    nothing on DuckDB, so a mart that lost half its rows looked unchanged. dbt's own value stays beside it as
    `dbt_rows_affected`.
    """
    data = json.loads(run_results.read_text())
    release_schema = plan.release.split(".", 1)[1]
    counts: dict[str, int] = {}
    for result in data.get("results", []):
        unique_id, relation = str(result.get("unique_id", "")), result.get("relation_name")
        if not unique_id.startswith("model.") or result.get("status") != "success" or not relation:
            continue
        parts = [part.strip('"').lower() for part in str(relation).split(".")]
        if len(parts) != 3 or parts[1] != release_schema or not _IDENTIFIER.match(parts[2]):
            continue
        rows = executor(f"select count(*) from {plan.release}.{parts[2]}")  # noqa: S608 (validated identifiers)
        response = result.setdefault("adapter_response", {})
        response["dbt_rows_affected"] = response.get("rows_affected")
        response["rows_affected"] = counts[unique_id] = int(rows[0][0])
    run_results.write_text(json.dumps(data))
    return counts


def dbt_build_into_release(
    root: Path,
    *,
    target: str,
    selector: str,
    plan: WapPlan,
    extra_env: dict[str, str] | None = None,
    executor: Executor | None = None,
) -> Callable[[], int]:
    """The write + audit step: the real dbt CLI with the release var set; then, if it passed, the row counts."""

    def build() -> int:
        workspace = DbtWorkspace(root, f"wap-{target}")
        args = ["build", "--target", target, "--selector", selector, "--vars", json.dumps({"wap_release": plan.tag})]
        proc = run_dbt(workspace, args, extra_env=extra_env)
        print(proc.stdout[-4000:])
        if proc.returncode == 0 and executor is not None and workspace.run_results_path.exists():
            record_row_counts(executor, plan, workspace.run_results_path)
        return proc.returncode

    return build


def snowflake_executor(connection: Any) -> Executor:
    def execute(sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    return execute


def connect_from_env(env: dict[str, str]) -> Any:
    """A Snowflake connection with the same key-pair credentials the dbt profile reads."""
    import snowflake.connector
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(
        env["SNOWFLAKE_PRIVATE_KEY"].encode(), password=env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"].encode()
    )
    der = key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return snowflake.connector.connect(
        account=env["SNOWFLAKE_ACCOUNT"],
        user=env["SNOWFLAKE_USER"],
        private_key=der,
        role=env["SNOWFLAKE_ROLE"],
        warehouse=env["SNOWFLAKE_WAREHOUSE"],
        database=env["SNOWFLAKE_DATABASE"],
        session_parameters={"QUERY_TAG": "cicd-wap"},
    )


# Statements fakesnow (0.12) cannot run; everything else the plan issues is executed on it in tests.
EMULATOR_GAPS: Sequence[str] = ("clone", "grant", "swap with", "rename to")
