"""Parse a DAG folder with the real Airflow and write what the integrity rules need, as JSON.

Run by cicd.dags.integrity as a script in a fresh interpreter without `site` (`python -I -S probe.py`):
the guards below patch sockets, Variables, connections and the `[platform]` configuration for the whole
process, and per-file timings stay clean. The interpreter sees what MWAA's does: the DAG folder and
MWAA's packages (cicd/dags/mwaa_environment.py). It reports facts only; cicd.dags.rules turns them
into findings.

Files are parsed the way MWAA's scheduler parses them: the long-lived process pre-imports the
`airflow.*` modules a file names (`parsing_pre_import_modules`, untimed), then forks, and the fork
parses the file. Whatever else a file imports (the helper package under the DAG folder, providers
it does not name) is paid for by every file, as in production, and a file that hangs, exits or
crashes the interpreter takes only its own fork down.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import re
import resource
import select
import signal
import socket
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# A literal that should have come from the run-time configuration: a bucket URI or an AWS ARN that
# is not a template. Templates ("s3://{{ conf.get(...) }}") render per environment at run time.
LITERAL_ENVIRONMENT_VALUE = re.compile(r"s3a?://(?!\{\{)[^\s'\"]+|arn:aws[a-z-]*:[^\s'\"]+")
SPEC_FOLDER = "pipelines"
# What the process that forks the parsers has already imported on MWAA: the DAG processor manager is
# forked from the scheduler, whose modules (serialization among them) every parse then inherits.
SCHEDULER_MODULES = ("airflow.jobs.scheduler_job_runner", "airflow.dag_processing.processor")


class ParseGuardError(RuntimeError):
    """A DAG file did at import what only a task may do when it runs."""


class NetworkAccessError(ParseGuardError):
    pass


class VariableAccessError(ParseGuardError):
    pass


class ConnectionAccessError(ParseGuardError):
    pass


class PlatformConfigAccessError(ParseGuardError):
    pass


ERROR_KINDS = {
    "SyntaxError": "syntax-error",
    "IndentationError": "syntax-error",
    "TabError": "syntax-error",
    "AirflowDagCycleException": "dag-cycle",
    "AirflowDagDuplicatedIdException": "duplicate-dag-id",
    "AirflowTaskTimeout": "parse-timeout",
    "PipelineSpecError": "invalid-spec",
    NetworkAccessError.__name__: "network-at-parse",
    VariableAccessError.__name__: "variable-at-parse",
    ConnectionAccessError.__name__: "connection-at-parse",
    PlatformConfigAccessError.__name__: "platform-config-at-parse",
}
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(?P<type>[A-Za-z_]\w*)(?::\s?(?P<message>.*))?$")


def enter_mwaa_environment(environment: dict[str, Any]) -> None:
    """sys.path as on MWAA: no `.pth` file ran (-S); the only package folder is the view of MWAA's packages."""
    sys.path.extend(path for path in environment["site_packages"] if path not in sys.path)


class ParseGuard:
    """Blocks what a DAG file must not do at parse time and records each attempt with its file and line."""

    def __init__(self, dags_folder: Path):
        self.dags_folder = dags_folder
        self.current_file: str | None = None
        self.attempts: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return self.current_file is not None

    def _where(self) -> int | None:
        for frame in reversed(traceback.extract_stack()):
            if frame.filename == self.current_file:
                return frame.lineno
        return None

    def block(self, kind: str, error: type[ParseGuardError], detail: str, fix: str) -> None:
        self.attempts.append({"kind": kind, "file": self.current_file, "line": self._where(), "detail": detail})
        raise error(f"{detail} while parsing a DAG file: {fix}")

    def note(self, kind: str, detail: str) -> None:
        self.attempts.append({"kind": kind, "file": self.current_file, "line": self._where(), "detail": detail})

    def install(self) -> None:
        self._guard_network()
        self._guard_metadata()
        self._guard_platform_config()
        self._watch_naive_datetimes()

    def _guard_network(self) -> None:
        guard = self
        move = "network calls belong in a task (they run on a worker, with retries), never at import"

        def blocked(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                if not guard.active:
                    return original(*args, **kwargs)
                target = args[0] if args else kwargs.get("host", "?")
                guard.block("network-at-parse", NetworkAccessError, f"socket.{name}({target!r})", move)
                return None

            return call

        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
            setattr(socket, name, blocked(name, getattr(socket, name)))

        for method in ("connect", "connect_ex"):
            original = getattr(socket.socket, method)

            def connect(self: socket.socket, address: Any, _original: Any = original, _method: str = method) -> Any:
                if guard.active and self.family != socket.AF_UNIX:
                    guard.block("network-at-parse", NetworkAccessError, f"socket.{_method}({address!r})", move)
                return _original(self, address)

            setattr(socket.socket, method, connect)

    def _guard_metadata(self) -> None:
        from airflow.hooks.base import BaseHook
        from airflow.models.variable import Variable

        guard = self
        original_variable = Variable.__dict__["get"].__func__
        original_connection = BaseHook.__dict__["get_connection"].__func__

        def variable_get(cls: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            if guard.active:
                guard.block(
                    "variable-at-parse",
                    VariableAccessError,
                    f"Variable.get({key!r})",
                    "read Variables inside a task or a template ({{ var.value.<key> }}); at parse time every "
                    "scheduler loop would query the metadata database",
                )
            return original_variable(cls, key, *args, **kwargs)

        def get_connection(cls: Any, conn_id: str, *args: Any, **kwargs: Any) -> Any:
            if guard.active:
                guard.block(
                    "connection-at-parse",
                    ConnectionAccessError,
                    f"BaseHook.get_connection({conn_id!r})",
                    "create hooks and look up connections inside a task's execute(), not at import",
                )
            return original_connection(cls, conn_id, *args, **kwargs)

        Variable.get = classmethod(variable_get)  # type: ignore[assignment,method-assign]
        BaseHook.get_connection = classmethod(get_connection)  # type: ignore[assignment,method-assign]

    def _guard_platform_config(self) -> None:
        from airflow.configuration import conf

        guard = self
        original = conf.get

        def get(*args: Any, **kwargs: Any) -> Any:
            section = args[0] if args else kwargs.get("section")
            if guard.active and str(section).lower() == "platform":
                key = args[1] if len(args) > 1 else kwargs.get("key")
                guard.block(
                    "platform-config-at-parse",
                    PlatformConfigAccessError,
                    f"conf.get('platform', {key!r})",
                    "environment settings are read when a task runs: use a template "
                    "(\"{{ conf.get('platform', '<key>') }}\") or read them inside the task",
                )
            return original(*args, **kwargs)

        conf.get = get  # type: ignore[method-assign]

    def _watch_naive_datetimes(self) -> None:
        # Airflow silently attaches its default timezone to a naive start_date; this sees it first.
        from airflow.utils import timezone

        guard = self
        original = timezone.convert_to_utc

        def convert_to_utc(value: Any) -> Any:
            if guard.active and isinstance(value, dt.datetime) and value.tzinfo is None:
                guard.note("naive-datetime", f"naive datetime {value.isoformat()}")
            return original(value)

        timezone.convert_to_utc = convert_to_utc


_MISSING_MODULE = re.compile(r"No module named '(?P<module>[\w.]+)'")


def classify(import_error: str, path: str, dags_folder: str | None = None) -> dict[str, Any]:
    """An Airflow import-error text -> the rule it breaks, the exception, its message and the file's line.

    For a missing module, also the module and the innermost line inside the DAG folder that imports it
    (the helper package's line when a DAG file fails through it).
    """
    lines = [line for line in import_error.strip().splitlines() if line.strip()]
    exception, message = "Exception", import_error.strip()
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line.strip())
        if match and not line.startswith(" ") and (match.group("message") is not None or line.strip().isidentifier()):
            exception, message = match.group("type"), (match.group("message") or "").strip()
            break
    line_no = None
    for match in re.finditer(rf'File "{re.escape(path)}", line (\d+)', import_error):
        line_no = int(match.group(1))
    if exception == "Exception" and "DagBag import timeout" in import_error:
        exception = "AirflowTaskTimeout"
    kind = ERROR_KINDS.get(exception, "import-error")
    if kind == "import-error" and "AIRFLOW__PLATFORM__" in import_error:
        kind = "platform-config-at-parse"
    result: dict[str, Any] = {"kind": kind, "exception": exception, "message": message[:2000], "line": line_no}
    missing = _MISSING_MODULE.search(message) if exception == "ModuleNotFoundError" else None
    if missing:
        result["missing_module"] = missing.group("module")
        inside = [
            (m.group(1), int(m.group(2)))
            for m in re.finditer(r'File "([^"]+)", line (\d+)', import_error)
            if dags_folder and m.group(1).startswith(dags_folder.rstrip("/") + "/")
        ]
        if inside:
            result["origin_file"], result["origin_line"] = inside[-1]
    return result


def _template_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_strings(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _template_strings(item)


def _seconds(value: dt.timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


# What marks a write-audit-publish task: the factory's transform callable, or any command naming the CLI.
WAP_CALLABLES = frozenset({"platform_dags.tasks.transform"})
WAP_MODULE = "pipeline_assets.dbt_wap.cli"


def _runs_wap(task: Any) -> bool:
    function = getattr(task, "python_callable", None)
    if function is not None and f"{function.__module__}.{function.__qualname__}" in WAP_CALLABLES:
        return True
    return any(
        WAP_MODULE in text for field in task.template_fields for text in _template_strings(getattr(task, field, None))
    )


def dag_facts(dag: Any) -> dict[str, Any]:
    from airflow.timetables.simple import NullTimetable, OnceTimetable

    tasks = []
    for task in dag.tasks:
        literals = sorted(
            {
                match.group(0)
                for field in task.template_fields
                for text in _template_strings(getattr(task, field, None))
                for match in LITERAL_ENVIRONMENT_VALUE.finditer(text)
            }
        )
        tasks.append(
            {
                "task_id": task.task_id,
                "operator": type(task).__name__,
                "owner": task.owner,
                "retries": task.retries,
                "execution_timeout_s": _seconds(task.execution_timeout),
                "literals": literals,
                "pool": task.pool,
                "runs_wap": _runs_wap(task),
            }
        )
    timetable = dag.timetable
    return {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "owner": dag.owner,
        "tags": sorted(dag.tags or []),
        "catchup": bool(dag.catchup),
        "dagrun_timeout_s": _seconds(dag.dagrun_timeout),
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "timezone": str(dag.timezone),
        "schedule": timetable.summary,
        "has_schedule": not isinstance(timetable, NullTimetable | OnceTimetable),
        "has_doc": bool(dag.doc_md),
        "tasks": tasks,
    }


def spec_facts(dags_folder: Path) -> list[dict[str, Any]]:
    spec_dir = dags_folder / SPEC_FOLDER
    if not spec_dir.is_dir():
        return []
    paths = sorted(spec_dir.glob("*.yaml")) + sorted(spec_dir.glob("*.yml"))
    try:
        from platform_vocabulary.pipeline_spec import PipelineSpecError, load_spec
    except ImportError as exc:
        return [
            {
                "path": str(p),
                "problems": [
                    {
                        "field": "",
                        "message": f"cannot import platform_vocabulary.pipeline_spec: {exc}",
                        "line": None,
                        "rule": "spec-model-import",
                        "fix": "make dags/platform_dags import with the MWAA requirements",
                    }
                ],
            }
            for p in paths
        ]
    facts = []
    for path in paths:
        entry: dict[str, Any] = {"path": str(path), "pipeline_id": path.stem, "problems": []}
        try:
            spec = load_spec(path)
        except PipelineSpecError as exc:
            entry["problems"] = [
                {"field": p.field, "message": p.message, "line": p.line, "rule": p.rule, "fix": p.fix}
                for p in exc.problems
            ]
        else:
            dag_ids = []
            if spec.load is not None or spec.dbt is not None or not spec.is_streaming:
                dag_ids.append(spec.id)
            if spec.is_streaming:
                dag_ids.append(spec.supervisor_dag_id)
            entry.update(
                dag_ids=dag_ids,
                dag_file=str(dags_folder / f"{spec.id}.py"),
                dbt_selector=spec.dbt.selector if spec.dbt else None,
                spark_job=spec.spark.job if spec.spark else None,
                spark_kind=("streaming" if spec.is_streaming else "batch") if spec.spark else None,
                data_service=spec.publish.data_service if spec.publish else None,
            )
        facts.append(entry)
    return facts


def runqueue_wait() -> float:
    """Seconds this process has waited for a CPU so far (Linux schedstat; 0 where it is unavailable).

    Wall time minus this is what a parse would take on a machine of its own: the parse budget must not fail
    because other work shares the cores (a 0.35 s parse took 4.9 s wall at load 14 on 2 cores).
    """
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _parse_in_child(dagbag: Any, guard: ParseGuard, path: str, write_fd: int) -> None:
    """Runs in the forked child: parse one file, send its facts to the parent, exit without cleanup."""
    status = 0
    try:
        guard.current_file = path
        t0, waited0 = time.perf_counter(), runqueue_wait()
        found = dagbag.process_file(path, only_if_updated=False, safe_mode=True)
        elapsed = time.perf_counter() - t0
        busy = max(elapsed - (runqueue_wait() - waited0), 0.0)
        guard.current_file = None
        ids = Counter(dag.dag_id for dag in found)
        error = (
            classify(dagbag.import_errors[path], path, str(guard.dags_folder)) if path in dagbag.import_errors else None
        )
        if error is None and (duplicated := sorted(i for i, n in ids.items() if n > 1)):
            error = {
                "kind": "duplicate-dag-id",
                "exception": "DuplicateDagId",
                "message": f"this file defines {', '.join(duplicated)} more than once; Airflow keeps only the last",
                "line": None,
            }
        result = {
            "file": {
                "path": path,
                "seconds": round(elapsed, 6),
                "busy_seconds": round(busy, 6),
                "dag_ids": sorted(ids),
                "error": error,
                "warnings": list(dagbag.captured_warnings.get(path, ())),
            },
            "dags": [dag_facts(dag) for dag in found],
            "attempts": guard.attempts,
        }
        payload = json.dumps(result).encode()
    except BaseException as exc:  # the parent must hear about anything, including SystemExit from a DAG file
        payload = json.dumps({"crash": f"{type(exc).__name__}: {exc}", "path": path}).encode()
        status = 1
    try:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
    finally:
        os._exit(status)


def _parse_forked(dagbag: Any, guard: ParseGuard, path: str, timeout_s: float) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is the parent's result
        os.close(read_fd)
        _parse_in_child(dagbag, guard, path, write_fd)
    os.close(write_fd)
    chunks = []
    deadline = time.monotonic() + timeout_s
    with os.fdopen(read_fd, "rb") as pipe:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([pipe], [], [], max(remaining, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return _hung(path, timeout_s)
            chunk = os.read(pipe.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    if not chunks:
        return {
            "crash": "the parsing process died without a result (killed, or os._exit in the DAG file)",
            "path": path,
        }
    return json.loads(b"".join(chunks))


def _hung(path: str, timeout_s: float) -> dict[str, Any]:
    error = {
        "kind": "parse-timeout",
        "exception": "Timeout",
        "message": f"parsing did not finish within {timeout_s:.0f} s and was killed",
        "line": None,
    }
    file = {"path": path, "seconds": timeout_s, "dag_ids": [], "error": error, "warnings": []}
    return {"file": file, "dags": [], "attempts": []}


def probe(dags_folder: Path, *, import_timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    import airflow
    from airflow.models.dagbag import DagBag
    from airflow.utils.file import iter_airflow_imports, list_py_file_paths

    for module in SCHEDULER_MODULES:
        importlib.import_module(module)
    guard = ParseGuard(dags_folder)
    guard.install()
    folder = str(dags_folder)
    # What Airflow would silently skip: files its discovery heuristic (the words "airflow" and "dag") passes over.
    discovered = list_py_file_paths(folder, safe_mode=True, include_examples=False)
    candidates = list_py_file_paths(folder, safe_mode=False, include_examples=False)
    dagbag = DagBag(dag_folder=folder, include_examples=False, read_dags_from_db=False, collect_dags=False)
    import_seconds = time.perf_counter() - started

    files: list[dict[str, Any]] = []
    dags: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    owner_of: dict[str, str] = {}
    for path in sorted(discovered):
        # As the scheduler does: pre-import what the file names, in the long-lived process, then fork.
        for module in iter_airflow_imports(path):
            try:
                importlib.import_module(module)
            except Exception:  # noqa: S112 - a failing pre-import surfaces in the parse itself
                continue
        result = _parse_forked(dagbag, guard, path, timeout_s=import_timeout_s + 10)
        if "crash" in result:
            error = {"kind": "import-error", "exception": "ParseCrash", "message": result["crash"], "line": None}
            result = {"file": {"path": path, "seconds": 0.0, "dag_ids": [], "error": error, "warnings": []}}
        entry = result["file"]
        attempts += result.get("attempts", [])
        # Airflow bags files one by one: a dag_id already taken by an earlier file fails the later one.
        taken = sorted(d for d in entry["dag_ids"] if d in owner_of)
        if taken and entry["error"] is None:
            clash = ", ".join(f"{d} (also in {Path(owner_of[d]).name})" for d in taken)
            entry["error"] = {
                "kind": "duplicate-dag-id",
                "exception": "AirflowDagDuplicatedIdException",
                "message": f"dag_id already defined by another file: {clash}",
                "line": None,
            }
            entry["dag_ids"] = []
        else:
            for dag in result.get("dags", []):
                owner_of.setdefault(dag["dag_id"], path)
            dags += result.get("dags", [])
        files.append(entry)
    return {
        "airflow_version": airflow.__version__,
        "dags_folder": folder,
        "import_seconds": round(import_seconds, 3),
        "parse_seconds": round(sum(entry["seconds"] for entry in files), 6),
        "files": files,
        "skipped_files": sorted(set(candidates) - set(discovered)),
        "dags": sorted(dags, key=lambda dag: dag["dag_id"]),
        "attempts": attempts,
        "specs": spec_facts(dags_folder),
        # ru_maxrss is in KiB on Linux; children: the largest single parse, like one MWAA parsing process.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_child_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dags-folder", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--environment",
        required=True,
        type=Path,
        help="JSON: site_packages, the package folders to put on sys.path (cicd/dags/mwaa_environment.py)",
    )
    args = parser.parse_args(argv)
    folder = args.dags_folder.resolve()
    if os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") != str(folder):
        print("the probe needs AIRFLOW__CORE__DAGS_FOLDER set to --dags-folder (cicd.dags.integrity does this)")
        return 2
    environment = json.loads(args.environment.read_text())
    enter_mwaa_environment(environment)
    facts = probe(folder, import_timeout_s=float(os.environ.get("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "30")))
    args.out.write_text(json.dumps(facts, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
