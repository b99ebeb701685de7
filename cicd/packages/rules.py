"""Offline rules: nothing that runs in a private subnet may fetch a package from the internet.

Each rule reads a declaration (MWAA's requirements.txt, the startup script, Spark submit parameters)
and returns problems that name the file, the rule and the fix. No rule downloads anything: the gate
runs them without network, on the files as committed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cicd.packages.locks import (
    DBT_LOCK,
    JAR_LOCK,
    PIN,
    WHEELHOUSE_LOCK,
    Jar,
    LockedWheel,
    LockError,
    load_jars,
    load_requirements_lock,
    normalize,
)
from platform_vocabulary import spark_jars
from platform_vocabulary.spark_jars import JARS_PREFIX

# Where MWAA unpacks plugins.zip on every container; the wheelhouse and the constraints travel there.
PLUGINS_DIR = "/usr/local/airflow/plugins"
DBT_WHEELS_DIR = f"{PLUGINS_DIR}/dbt"
CONSTRAINTS_PATH = f"{PLUGINS_DIR}/constraints.txt"
MWAA_DIR = Path("pipeline_assets/mwaa")
# What `make packages` writes and the stacks upload (stacks/staged_packages.py).
STAGED_DIR = Path("build/packages")

JINJA = re.compile(r"\{\{.*?\}\}")
URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
INDEX_OPTIONS = ("--index-url", "--extra-index-url", "-i", "--trusted-host")
SPARK_FETCH_OPTIONS = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.ivySettings", "--packages")


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str
    message: str
    fix: str
    line: int | None = None
    severity: str = "error"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined and comments dropped, with their first line number."""
    lines, buffer, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not buffer:
            start = number
        if content.rstrip().endswith("\\"):
            buffer += content.rstrip()[:-1] + " "
            continue
        buffer += content
        if buffer.strip():
            lines.append((start, buffer.strip()))
        buffer = ""
    return lines


def check_requirements(file: str, text: str, locked: Mapping[str, LockedWheel]) -> list[Problem]:
    """MWAA's requirements.txt installs from the wheels in plugins.zip, under a local constraints file."""
    problems: list[Problem] = []
    options: dict[str, str] = {}

    def problem(rule: str, message: str, fix: str, line: int | None = None) -> None:
        problems.append(Problem(file, f"packages:{rule}", message, fix, line))

    for number, line in _logical_lines(text):
        words = shlex.split(line)
        if URL.search(line) or words[0] in INDEX_OPTIONS:
            problem(
                "no-network",
                f"`{line}` reaches a package host; MWAA runs in private subnets without internet access",
                f"install from the wheelhouse: `--no-index` and `--find-links {PLUGINS_DIR}`, "
                f"constraints as `--constraint {CONSTRAINTS_PATH}` (docs/packages.md)",
                number,
            )
            continue
        if words[0].startswith("-"):
            options[words[0]] = words[1] if len(words) > 1 else ""
            continue
        pin = PIN.match(line)
        if not pin:
            problem("pinned", f"`{line}` is not pinned with ==", "pin the exact version the wheelhouse holds", number)
            continue
        name, version = normalize(pin["name"]), pin["version"]
        if name not in locked or locked[name].version != version:
            held = locked[name].version if name in locked else "nothing"
            problem(
                "locked",
                f"{name}=={version} is not in the wheelhouse lock (it holds {held})",
                "change the pin in requirements.txt and wheelhouse.in together, then run `make mwaa-lock`",
                number,
            )
    if "--no-index" not in options:
        problem("no-index", "requirements.txt lacks `--no-index`, so pip would try PyPI", "add a `--no-index` line")
    if options.get("--find-links") != PLUGINS_DIR:
        problem(
            "find-links",
            f"requirements.txt must find its wheels in {PLUGINS_DIR} (found {options.get('--find-links')!r})",
            f"add `--find-links {PLUGINS_DIR}`",
        )
    constraint = options.get("--constraint", options.get("-c"))
    if constraint != CONSTRAINTS_PATH:
        problem(
            "constraints-local",
            f"the constraints file must be the local {CONSTRAINTS_PATH} shipped in plugins.zip (found {constraint!r})",
            f"use `--constraint {CONSTRAINTS_PATH}`; the release build writes it from wheelhouse.lock",
        )
    return problems


def check_startup_script(file: str, text: str) -> list[Problem]:
    """Every pip install in the startup script installs locked wheels from plugins.zip, nothing else."""
    problems = []
    for number, line in _logical_lines(text):
        if URL.search(line) or re.search(r"\b(curl|wget)\b", line):
            problems.append(
                Problem(
                    file,
                    "packages:no-network",
                    f"`{line[:120]}` downloads at container start; MWAA has no internet access",
                    "ship the file in plugins.zip (docs/packages.md) and read it from /usr/local/airflow/plugins",
                    number,
                )
            )
        if re.search(r"\bpip\b.*\binstall\b", line):
            required = ("--no-index", f"--find-links {DBT_WHEELS_DIR}", "--require-hashes")
            missing = [option for option in required if option not in line]
            if missing:
                problems.append(
                    Problem(
                        file,
                        "packages:offline-install",
                        f"pip install lacks {', '.join(missing)}: it would resolve against PyPI",
                        f"install with `--no-index --find-links {DBT_WHEELS_DIR} --require-hashes "
                        f"-r {DBT_WHEELS_DIR}/requirements.lock`",
                        number,
                    )
                )
    return problems


def spark_conf(submit_parameters: str) -> dict[str, str]:
    """`--conf k=v` pairs of a sparkSubmitParameters string (other options keep their flag as key).

    Airflow templates (`{{ ... }}`) are rendered only when the task runs; each stands for one word here.
    """
    words, conf = JINJA.sub("JINJA", submit_parameters).split(), {}
    for index, word in enumerate(words):
        if word == "--conf" and index + 1 < len(words):
            key, _, value = words[index + 1].partition("=")
            conf[key] = value
        elif word.startswith("--") and word != "--conf":
            conf[word] = words[index + 1] if index + 1 < len(words) else ""
    return conf


def check_spark_parameters(where: str, submit_parameters: str, jars: Iterable[Jar]) -> list[Problem]:
    """No Maven resolution at job start; every jar on spark.jars is a locked file under packages/jars/."""
    problems = []
    conf = spark_conf(submit_parameters)
    for option in SPARK_FETCH_OPTIONS:
        if option in conf:
            problems.append(
                Problem(
                    where,
                    "packages:spark-no-resolve",
                    f"{option} makes Spark download from Maven at job start; EMR Serverless runs without internet",
                    f"add the coordinate to pipeline_assets/spark/jars.lock.json and put "
                    f"s3://<release bucket>/{JARS_PREFIX}<file> on spark.jars instead",
                )
            )
    locked = {jar.file for jar in jars}
    for uri in filter(None, (conf.get("spark.jars", "") + "," + conf.get("--jars", "")).split(",")):
        if uri.startswith("/usr/share/aws/"):
            continue  # shipped in the EMR image itself
        file = uri.rsplit("/", 1)[-1]
        if f"/{JARS_PREFIX}" not in uri or file not in locked:
            problems.append(
                Problem(
                    where,
                    "packages:spark-jar-locked",
                    f"spark.jars names {uri}, which is not a locked jar under {JARS_PREFIX}",
                    "add its coordinate to pipeline_assets/spark/jars.lock.json (make spark-jars-lock) "
                    f"and reference s3://<release bucket>/{JARS_PREFIX}{file}",
                )
            )
    return problems


def check_jar_hashes(file: str, jars: Iterable[Jar]) -> list[Problem]:
    """A jar without a recorded sha256 cannot be staged; the gate says so without failing offline."""
    return [
        Problem(
            file,
            "packages:jar-sha256",
            f"{jar.coordinate} has no sha256 yet: `make spark-jars` refuses to stage it",
            "on a machine that reaches Maven Central run `make spark-jars-lock` and commit the lock",
            severity="warning",
        )
        for jar in jars
        if jar.sha256 is None
    ]


# Where Spark submit parameters are written: no file here may ask Spark to resolve packages itself.
SPARK_SOURCES = ("dags", "pipeline_assets/spark", "stacks", "constructs")
SPARK_PACKAGES_MODULE = Path("platform_vocabulary/spark_jars.py")


def scan_sources(root: Path) -> list[Problem]:
    """A literal `spark.jars.packages` or `--packages` anywhere a job's parameters could come from."""
    problems = []
    for folder in SPARK_SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                found = [option for option in SPARK_FETCH_OPTIONS if re.search(rf"['\"\s]{re.escape(option)}\b", line)]
                if found and not line.lstrip().startswith("#"):
                    problems.append(
                        Problem(
                            path.relative_to(root).as_posix(),
                            "packages:spark-no-resolve",
                            f"{found[0]} makes Spark download from Maven at job start; EMR Serverless has no internet",
                            "list the jar in pipeline_assets/spark/jars.lock.json and platform_vocabulary/"
                            "spark_jars.py, and put its staged S3 URI on spark.jars",
                            number,
                        )
                    )
    return problems


def _spark_jar_lists() -> dict[str, tuple[str, ...]]:
    """The jar tuples of platform_vocabulary/spark_jars.py, by name."""
    return {name: value for name, value in vars(spark_jars).items() if name.endswith("_JARS")}


def check_staged(root: Path) -> list[Problem]:
    """A warning, not an error: synth without staged packages is the normal offline case here."""
    if (root / STAGED_DIR).is_dir():
        return []
    return [
        Problem(
            STAGED_DIR.as_posix(),
            "packages:staged",
            f"{STAGED_DIR.as_posix()}/ is absent, so this synth leaves out the Spark jar upload and MWAA's "
            "plugins.zip: an environment deployed from it could not start Spark jobs that need the jars "
            "or install its providers",
            "run `make packages` (network: Maven Central and PyPI) before synth; the delivery pipeline "
            "sets packages:required=true, which makes an absent directory a synth error",
            severity="warning",
        )
    ]


def check_repository(root: Path, jar_lists: Mapping[str, tuple[str, ...]] | None = None) -> list[Problem]:
    """Every offline rule on the repository as committed (what the gate's offline-packages check runs).

    `jar_lists`: the jar tuples the jobs load, by name (default: platform_vocabulary/spark_jars.py's).
    """
    try:
        jars = load_jars(root)
        wheelhouse = load_requirements_lock(root, WHEELHOUSE_LOCK)
        load_requirements_lock(root, DBT_LOCK)
    except LockError as exc:
        return [Problem(str(exc).split(":", 1)[0], "packages:lock", str(exc), "fix the lock file as the message says")]
    requirements, startup = MWAA_DIR / "requirements.txt", MWAA_DIR / "startup.sh"
    problems = [
        *check_requirements(requirements.as_posix(), (root / requirements).read_text(), wheelhouse),
        *check_startup_script(startup.as_posix(), (root / startup).read_text()),
        *scan_sources(root),
        *check_jar_hashes(JAR_LOCK.as_posix(), jars),
        *check_staged(root),
    ]
    for name, files in (_spark_jar_lists() if jar_lists is None else jar_lists).items():
        parameters = "--conf spark.jars=" + ",".join(f"s3://bucket/{JARS_PREFIX}{file}" for file in files)
        problems += check_spark_parameters(f"{SPARK_PACKAGES_MODULE.as_posix()} ({name})", parameters, jars)
    return problems
