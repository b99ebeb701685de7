"""Turn a dbt run (run_results.json, manifest.json, console output) into gate findings.

Every finding names the file to open (the model's SQL, or the YAML that declares the test), a rule id and
a one-line fix, so nobody has to read dbt's log to know what broke.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline_assets.dbt_wap.runner import PROJECT_DIR
from platform_vocabulary.findings import Finding

_NODE_ERROR = re.compile(
    r"(?P<kind>Compilation|Parsing|Runtime|Database|Dependency) Error in (?P<type>[a-z_]+) (?P<name>\S+) "
    r"\((?P<path>[^)]+)\)\s*\n(?P<detail>(?:.*\n){0,4})"
)
_PROJECT_ERROR = re.compile(
    r"^(?:\S+\s+)?(?P<kind>Parsing|Compilation|Runtime) Error\s*\n(?P<detail>(?:.*\n){0,6})", re.M
)
_CONTRACT = "contract"


def _project_path(path: str | None) -> str | None:
    if not path:
        return None
    return path if path.startswith(f"{PROJECT_DIR}/") else f"{PROJECT_DIR}/{path}"


def _first_line(text: str | None, limit: int = 300) -> str:
    # dbt appends "compiled code at <absolute path>": noise in a finding, and machine-specific.
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("compiled code at")]
    joined = " ".join(lines[:4])
    return joined[:limit] + ("…" if len(joined) > limit else "")


_MISMATCH_ROW = re.compile(
    r"^\|\s*(?P<column>[^|]+?)\s*\|\s*(?P<model>[^|]*?)\s*\|\s*(?P<contract>[^|]*?)\s*\|\s*(?P<why>[^|]+?)\s*\|"
)


def _contract_mismatches(message: str) -> str:
    """dbt prints a table of mismatched columns; keep each as 'column: contract vs model (reason)'."""
    rows = []
    for line in message.splitlines():
        match = _MISMATCH_ROW.match(line.strip())
        if match and match.group("column") not in ("column_name",) and not set(match.group("column")) <= {"-"}:
            model_type = match.group("model") or "missing"
            contract_type = match.group("contract") or "not in contract"
            rows.append(
                f"{match.group('column')}: {contract_type.lower()} in the contract, {model_type.lower()} in the SQL "
                f"({match.group('why')})"
            )
    return "; ".join(rows)


def _node(manifest: dict[str, Any], unique_id: str) -> dict[str, Any]:
    for section in ("nodes", "unit_tests", "sources", "exposures"):
        node = manifest.get(section, {}).get(unique_id)
        if node is not None:
            return dict(node)
    return {}


def _test_subject(manifest: dict[str, Any], node: dict[str, Any]) -> str:
    attached = node.get("attached_node") or ""
    model = _node(manifest, attached).get("name") if attached else None
    column = node.get("column_name")
    if model and column:
        return f"{model}.{column}"
    return model or node.get("name", "?")


def findings_from_run(run_results: dict[str, Any], manifest: dict[str, Any], *, where: str) -> list[Finding]:
    """One finding per node that errored or failed; `where` says which engine ran it (DuckDB, fakesnow)."""
    findings: list[Finding] = []
    for result in run_results.get("results", []):
        status = result.get("status")
        if status not in ("error", "fail", "runtime error"):
            continue
        unique_id = result.get("unique_id", "")
        node = _node(manifest, unique_id)
        resource = node.get("resource_type") or unique_id.split(".", 1)[0]
        name = node.get("name") or unique_id
        path = _project_path(node.get("original_file_path"))
        message = _first_line(result.get("message"))
        if resource == "unit_test":
            findings.append(
                Finding(
                    rule="dbt:unit-test-failed",
                    message=f"unit test {name} of model {node.get('model', '?')} failed on {where}: {message}",
                    file=path,
                    fix=f"compare expected and actual rows with `dbt test --select {name}` and fix the model's logic "
                    "(or the fixture if the behaviour change is intended)",
                )
            )
        elif resource == "test":
            failures = result.get("failures")
            rows = f"{failures} failing row(s)" if failures is not None else message
            test_kind = (node.get("test_metadata") or {}).get("name") or "singular test"
            findings.append(
                Finding(
                    rule="dbt:test-failed",
                    message=f"{test_kind} test {name} on {_test_subject(manifest, node)} failed on {where}: {rows}",
                    file=path,
                    fix=f"inspect the rows with `dbt show --select {name}` and fix the model that produces them "
                    "(a duplicate key usually means a join that multiplies rows)",
                )
            )
        elif _CONTRACT in message.lower() and resource == "model":
            mismatches = _contract_mismatches(result.get("message") or "") or message
            findings.append(
                Finding(
                    rule="dbt:contract-violation",
                    message=f"model {name} does not match its enforced contract on {where}: {mismatches}",
                    file=path,
                    fix="make the SQL return exactly the declared columns and data types (cast explicitly), or change "
                    "the contract in the model's YAML (a breaking change needs a new model version)",
                )
            )
        else:
            findings.append(
                Finding(
                    rule=f"dbt:{resource}-error",
                    message=f"{resource} {name} failed to build on {where}: {message}",
                    file=path,
                    fix=f"reproduce with `cicd dbt build --select {name}` and fix the SQL it reports",
                )
            )
    return findings


def findings_from_output(output: str, *, where: str) -> list[Finding]:
    """Errors dbt raises before it runs anything (bad Jinja, YAML, refs), read from its console output."""
    findings: list[Finding] = []
    for match in _NODE_ERROR.finditer(output):
        detail = _first_line(match.group("detail"))
        kind = match.group("kind").lower()
        verb = "run" if kind in ("database", "runtime") else "compile"
        findings.append(
            Finding(
                rule=f"dbt:{kind}-error",
                message=f"{match.group('type')} {match.group('name')} does not {verb} on {where}: {detail}",
                file=_project_path(match.group("path")),
                fix="fix the Jinja/SQL at the reported line; `dbt parse` reproduces it locally in seconds",
            )
        )
    if findings:
        return findings
    for match in _PROJECT_ERROR.finditer(output):
        findings.append(
            Finding(
                rule=f"dbt:{match.group('kind').lower()}-error",
                message=f"the dbt project does not {'parse' if match.group('kind') == 'Parsing' else 'compile'} "
                f"on {where}: {_first_line(match.group('detail'))}",
                file=f"{PROJECT_DIR}/dbt_project.yml",
                fix="fix the YAML or Jinja named in the message; `dbt parse` reproduces it locally",
            )
        )
    return findings
