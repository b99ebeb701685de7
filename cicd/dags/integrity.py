"""Run the DAG integrity check: probe a DAG folder in a fresh interpreter, then apply the rules.

The probe parses what MWAA parses: the release's `dags` part (the DAG folder and the run-time packages
shipped inside it) written to a scratch folder, in an isolated interpreter (`python -I -S`: no PYTHONPATH,
no working directory, no script folder and no `.pth` file's path, such as the editable install's checkout,
on sys.path) whose only first-party code is that folder, which Airflow puts on sys.path as MWAA does, and
whose only packages are MWAA's (cicd/dags/mwaa_environment.py). A DAG file importing repository code the
release leaves out, or a package MWAA does not install, fails here as it would on MWAA, not only in
production.
"""

from __future__ import annotations

import compileall
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cicd.dags import baseline as baseline_mod
from cicd.dags.mwaa_environment import build_view, modules_outside, mwaa_distributions, site_packages, top_level_names
from cicd.dags.policy import DagPolicy, load_policy
from cicd.dags.rules import FIXES, RULE_PREFIX, Inputs, evaluate
from cicd.release.parts.dags import dag_folder_files
from platform_vocabulary import yaml_source
from platform_vocabulary.findings import Finding, ToolError
from platform_vocabulary.spark_jobs import JOBS

# Run as a script file, not `-m cicd.dags.probe`: a module run needs the repository on sys.path.
PROBE_SCRIPT = Path(__file__).resolve().with_name("probe.py")
SELECTORS_PATH = "dbt_project/selectors.yml"
# Variables a DAG file could read at parse time to dodge the guards; the probe runs without them.
SCRUBBED_PREFIXES = ("AIRFLOW__PLATFORM__", "AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW__SECRETS__")


@dataclass
class IntegrityRun:
    facts: dict[str, Any]
    findings: list[Finding]
    wall_seconds: float

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def probe_environment(dags_folder: Path, airflow_home: Path, policy: DagPolicy) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(SCRUBBED_PREFIXES)}
    # Bytecode caching stays on: MWAA caches too, and the helper package is imported once per DAG file. It is
    # written beside the sources (the scratch DAG folder, compiled before the probe starts), not to a prefix.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE="True",
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=str(policy.import_timeout_seconds),
        # Deep enough that a failure inside the helper package still shows the DAG file's line.
        AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH="25",
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def probe_command(dags_folder: Path, out: Path, environment: Path) -> list[str]:
    """The isolated interpreter: sys.path is the standard library and, added by the probe, MWAA's packages."""
    script = [str(PROBE_SCRIPT), "--dags-folder", str(dags_folder), "--out", str(out)]
    return [sys.executable, "-I", "-S", *script, "--environment", str(environment)]


def write_mwaa_environment(root: Path, staged: Path, scratch: Path) -> tuple[Path, list[str]]:
    """What the probe's interpreter may import besides the DAG folder: a view of MWAA's packages only.

    Returns the environment file the probe reads and the modules the gate has but MWAA lacks
    (cicd/dags/mwaa_environment.py).
    """
    view = scratch / "mwaa-site-packages"
    left_out = build_view(site_packages(), mwaa_distributions(root), view)
    environment = scratch / "mwaa-environment.json"
    environment.write_text(json.dumps({"site_packages": [str(view)]}))
    return environment, modules_outside(top_level_names(staged), left_out)


def stage_dag_folder(root: Path, dags_folder: Path, into: Path) -> dict[str, str]:
    """Write the DAG folder MWAA would get (the release's dags part) into `into`.

    Returns each staged file's path and the path of the file it came from, so findings name the files
    people edit, not the scratch copies.
    """
    try:
        files = dag_folder_files(root, dags_folder)
    except ValueError as exc:
        raise ToolError(str(exc)) from exc
    origins = {}
    for rel, source in files.items():
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        origins[str(target)] = str(source)
    # MWAA's parsing processes reuse the bytecode the first parse wrote; without it the first file parsed would
    # pay for compiling the helper package and be timed against the budget for it.
    compileall.compile_dir(into, quiet=2, workers=1)
    return origins


def _to_origins(facts: dict[str, Any], staged: Path, folder: Path, origins: dict[str, str]) -> dict[str, Any]:
    """The probe's facts with every scratch path (in paths and in tracebacks) replaced by its source."""
    text = json.dumps(facts)
    for staged_file in sorted(origins, key=len, reverse=True):
        text = text.replace(json.dumps(staged_file)[1:-1], json.dumps(origins[staged_file])[1:-1])
    text = text.replace(json.dumps(str(staged))[1:-1], json.dumps(str(folder))[1:-1])
    result: dict[str, Any] = json.loads(text)
    return result


def probe_folder(
    dags_folder: Path, *, root: Path, policy: DagPolicy, timeout_s: float = 600
) -> tuple[dict[str, Any], float]:
    """The probe's facts about dags_folder, and the wall time of the whole subprocess (Airflow import included)."""
    folder = dags_folder.resolve()
    if not folder.is_dir():
        raise ToolError(f"DAG folder {folder} does not exist")
    with tempfile.TemporaryDirectory(prefix="dag-integrity-") as scratch:
        home, staged = Path(scratch).resolve() / "airflow-home", Path(scratch).resolve() / "dags"
        home.mkdir()
        origins = stage_dag_folder(root.resolve(), folder, staged)
        out = home / "facts.json"
        environment, not_on_mwaa = write_mwaa_environment(root.resolve(), staged, Path(scratch).resolve())
        env = probe_environment(staged, home, policy)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                probe_command(staged, out, environment),
                cwd=scratch,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"the DAG integrity probe did not finish within {timeout_s:.0f} s") from exc
        wall = time.perf_counter() - started
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise ToolError(f"the DAG integrity probe exited {proc.returncode}:\n{tail}")
        facts = _to_origins(json.loads(out.read_text()), staged, folder, origins)
        facts["not_on_mwaa"] = not_on_mwaa
        return facts, wall


def dbt_selectors(root: Path) -> frozenset[str] | None:
    path = root / SELECTORS_PATH
    if not path.exists():
        return None
    data = yaml_source.load(path, SELECTORS_PATH).data or {}
    return frozenset(item["name"] for item in data.get("selectors", []) if isinstance(item, dict) and "name" in item)


def spark_jobs(root: Path) -> dict[str, str] | None:
    """The Spark jobs the release ships (platform_vocabulary/spark_jobs.py); None in a root without Spark jobs."""
    if not (root / "pipeline_assets" / "spark").is_dir():
        return None
    return {job.job_id: job.kind for job in JOBS}


def gather_inputs(root: Path, policy: DagPolicy, base_ref: str | None) -> tuple[Inputs, list[Finding]]:
    """Baselines, acknowledgements and selectors; a broken baseline file is a finding, not a crash."""
    problems: list[Finding] = []
    inputs = Inputs(root=root, policy=policy, dbt_selectors=dbt_selectors(root), spark_jobs=spark_jobs(root))
    try:
        current = baseline_mod.read(root / baseline_mod.BASELINE_PATH) or {}
        inputs.current_baseline = current
        inputs.base_baseline = baseline_mod.at_ref(root, base_ref) if base_ref else current
        inputs.acknowledgements = baseline_mod.read_acknowledgements(root / baseline_mod.ACKNOWLEDGEMENTS_PATH)
    except baseline_mod.BaselineError as exc:
        inputs.base_baseline = inputs.current_baseline = None
        problems.append(
            Finding(
                rule=f"{RULE_PREFIX}:invalid-baseline",
                message=str(exc),
                file=exc.file,
                line=exc.line,
                fix=FIXES["invalid-baseline"],
            )
        )
    return inputs, problems


def check(root: Path, *, dags_folder: Path | None = None, base_ref: str | None = None) -> IntegrityRun:
    """The whole check as the gate runs it on the repository's DAG folder."""
    policy = load_policy()
    facts, wall = probe_folder(dags_folder or root / "dags", root=root, policy=policy)
    inputs, problems = gather_inputs(root, policy, base_ref)
    return IntegrityRun(facts, problems + evaluate(facts, inputs), wall)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value at or above `share` of the values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def timing(facts: dict[str, Any], wall_seconds: float) -> dict[str, Any]:
    # Per-file parse times as on a machine of its own (wall time less CPU waits), which the budget applies to.
    seconds = [entry.get("busy_seconds", entry["seconds"]) for entry in facts["files"]]
    slowest = max(facts["files"], key=lambda entry: entry.get("busy_seconds", entry["seconds"]), default=None)
    return {
        "files": len(facts["files"]),
        "dags": len(facts["dags"]),
        "tasks": sum(len(dag["tasks"]) for dag in facts["dags"]),
        "wall_seconds": round(wall_seconds, 2),
        "airflow_import_seconds": facts["import_seconds"],
        "parse_seconds": round(facts["parse_seconds"], 3),
        "p50_seconds": round(percentile(seconds, 0.50), 4),
        "p95_seconds": round(percentile(seconds, 0.95), 4),
        "max_seconds": round(max(seconds, default=0.0), 4),
        "slowest_file": Path(slowest["path"]).name if slowest else None,
        "peak_rss_mb": facts["peak_rss_mb"],
    }


def write_junit(run: IntegrityRun, root: Path, path: Path) -> None:
    """One test case per DAG file and per spec (as the astro-cli DAG test does), failures per finding."""
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for finding in run.findings:
        by_file[finding.file or "-"].append(finding)
    cases: dict[str, float] = {}
    for entry in run.facts["files"]:
        cases[_relative(entry["path"], root)] = entry["seconds"]
    for spec in run.facts["specs"]:
        cases.setdefault(_relative(spec["path"], root), 0.0)
    for file in by_file:
        cases.setdefault(file, 0.0)
    suite = ET.Element(
        "testsuite",
        name="dag-integrity",
        tests=str(len(cases)),
        failures=str(sum(1 for f in cases if any(x.severity == "error" for x in by_file.get(f, ())))),
        time=f"{run.wall_seconds:.3f}",
    )
    for file, seconds in sorted(cases.items()):
        case = ET.SubElement(suite, "testcase", classname="dag-integrity", name=file, file=file, time=f"{seconds:.4f}")
        errors = [f for f in by_file.get(file, ()) if f.severity == "error"]
        if errors:
            failure = ET.SubElement(case, "failure", message=errors[0].render()[:500])
            failure.text = "\n".join(f.render() for f in errors)
        warnings = [f for f in by_file.get(file, ()) if f.severity != "error"]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(f.render() for f in warnings)
    path.parent.mkdir(parents=True, exist_ok=True)
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.ElementTree(suites).write(path, encoding="unicode", xml_declaration=True)


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path
