"""Parse one side of a change, select what differs from the other side, and build only that, in one process.

    python -m cicd.dbt.datadiff.rebuild --project DIR --role base --other-manifest M --other-project DIR --out R

The caller gives this process a copy of the other side's DuckDB database (DBT_DUCKDB_PATH) and the dbt paths
(DBT_TARGET_PATH, ...). Nodes outside the selection are the same on both sides, so the copy already holds them;
this process rebuilds the selection over them with `--full-refresh`, so incremental models compare as full builds.
`--everything` builds every node (the full reference build); `--test` then runs the selection's data and unit
tests too (what the gate's dbt build would report for the change: the benchmark's baseline).

One process because importing dbt and parsing are most of the cost on a busy 2-core machine: dbtRunner parses
once and hands the manifest to the build and the tests. Writes a JSON result (--out); exit 0 when it ran (build
errors are in the result), 3 when the project does not parse.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cicd.dbt.datadiff.selection import ProjectSide, everything, select

PARSE_FAILED = 3
TARGET = "ci"


def selector(node: dict[str, Any]) -> str:
    """A node's exact dbt selector: its full fqn (a bare name could also match a folder of the same name)."""
    return "fqn:" + ".".join(str(part) for part in node["fqn"])


def _results(result: Any) -> list[dict[str, Any]]:
    rows = []
    for item in getattr(result, "results", None) or []:
        node = item.node
        rows.append(
            {
                "unique_id": node.unique_id,
                "resource_type": str(getattr(node, "resource_type", "")),
                "attached_node": getattr(node, "attached_node", None),
                "status": str(getattr(item.status, "value", item.status)),
                "failures": getattr(item, "failures", None),
                "message": str(item.message or "")[:2000],
            }
        )
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    from dbt.cli.main import dbtRunner

    timings["import_dbt"] = time.perf_counter() - started
    common = ["--target", TARGET, "--vars", args.vars]
    started = time.perf_counter()
    parsed = dbtRunner().invoke(["parse", "--target", TARGET, "--vars", args.vars, "--quiet"])
    timings["parse"] = time.perf_counter() - started
    manifest_path = Path(args.target_path) / "manifest.json"
    if not parsed.success or not manifest_path.exists():
        return {"error": f"dbt parse failed: {parsed.exception or 'see the dbt log'}", "timings": timings}
    this = ProjectSide(json.loads(manifest_path.read_text()), Path(args.project))
    if args.everything:
        selection = everything(this)
    else:
        other = ProjectSide(json.loads(Path(args.other_manifest).read_text()), Path(args.other_project))
        base, head = (this, other) if args.role == "base" else (other, this)
        selection = select(base, head, pinned_vars=json.loads(args.vars))
    nodes = this.nodes
    chosen = [selector(nodes[uid]) for uid in selection.nodes if uid in nodes]
    outcome: dict[str, Any] = {"manifest": str(manifest_path), "selection": selection.to_json(), "built": []}
    if chosen:
        runner = dbtRunner(manifest=parsed.result)  # type: ignore[arg-type]  # parse returns a Manifest
        started = time.perf_counter()
        models_only = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
        threads = ["--threads", str(args.threads)]
        build = runner.invoke(["build", *common, *threads, "--full-refresh", "-q", *models_only, "--select", *chosen])
        timings["build"] = time.perf_counter() - started
        if build.exception is not None:
            outcome["error"] = f"dbt build raised: {build.exception}"
        outcome["built"] = _results(build.result)
        if args.test:
            started = time.perf_counter()
            tested = runner.invoke(["test", *common, *threads, "--quiet", "--select", *chosen])
            timings["test"] = time.perf_counter() - started
            outcome["tests"] = _results(tested.result)
    outcome["timings"] = timings
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cicd.dbt.datadiff.rebuild", description=__doc__)
    parser.add_argument("--project", required=True, help="the dbt project folder of this side")
    parser.add_argument("--role", choices=("base", "head"), required=True, help="which side this project is")
    parser.add_argument("--other-manifest", help="manifest.json of the side already built")
    parser.add_argument("--other-project", help="dbt project folder of the side already built (seeds, vars)")
    parser.add_argument("--target-path", required=True, help="dbt target path (as DBT_TARGET_PATH)")
    parser.add_argument("--vars", default="{}", help="dbt --vars as JSON, the same for both sides")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--everything", action="store_true", help="build every node instead of a selection")
    parser.add_argument("--test", action="store_true", help="also run the selection's data and unit tests")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    if not args.everything and not (args.other_manifest and args.other_project):
        parser.error("--other-manifest and --other-project are needed unless --everything")
    outcome = run(args)
    Path(args.out).write_text(json.dumps(outcome, indent=1, default=str))
    return PARSE_FAILED if "selection" not in outcome else 0


if __name__ == "__main__":
    sys.exit(main())
