"""The offline package rules: each bad declaration fails with the file, the rule and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cicd.packages.locks import Jar, LockedWheel
from cicd.packages.rules import (
    check_repository,
    check_requirements,
    check_spark_parameters,
    check_staged,
    check_startup_script,
    scan_sources,
)
from platform_vocabulary.spark_jars import KAFKA_STREAMING_JARS

ROOT = Path(__file__).resolve().parents[3]
LOCKED = {
    "apache-airflow-providers-amazon": LockedWheel("apache-airflow-providers-amazon", "9.0.0", ("a" * 64,)),
}
GOOD_REQUIREMENTS = """\
--no-index
--find-links /usr/local/airflow/plugins
--constraint /usr/local/airflow/plugins/constraints.txt
apache-airflow-providers-amazon==9.0.0
"""
JARS = [Jar("org.apache.kafka:kafka-clients:3.4.1", "b" * 64)]


def rules(problems) -> list[str]:
    return [problem.rule for problem in problems]


def test_offline_requirements_pass():
    assert check_requirements("requirements.txt", GOOD_REQUIREMENTS, LOCKED) == []


def test_a_constraints_url_is_a_network_fetch():
    text = GOOD_REQUIREMENTS.replace(
        "/usr/local/airflow/plugins/constraints.txt",
        '"https://raw.githubusercontent.com/apache/airflow/constraints-2.10.3/constraints-3.11.txt"',
    )
    problems = check_requirements("pipeline_assets/mwaa/requirements.txt", text, LOCKED)
    assert rules(problems) == ["packages:no-network", "packages:constraints-local"]
    first = problems[0]
    assert (first.file, first.line) == ("pipeline_assets/mwaa/requirements.txt", 3)
    assert "private subnets" in first.message and "--no-index" in first.fix


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("--index-url https://pypi.example/simple", "packages:no-network"),
        ("snowflake-connector-python>=3", "packages:pinned"),
        ("apache-airflow-providers-amazon==9.1.0", "packages:locked"),
        ("git+https://github.com/org/repo.git#egg=thing", "packages:no-network"),
    ],
)
def test_each_requirement_line_rule(line, rule):
    assert rule in rules(check_requirements("requirements.txt", GOOD_REQUIREMENTS + line + "\n", LOCKED))


def test_missing_offline_directives_are_named():
    problems = check_requirements("requirements.txt", "apache-airflow-providers-amazon==9.0.0\n", LOCKED)
    assert rules(problems) == ["packages:no-index", "packages:find-links", "packages:constraints-local"]


def test_startup_script_pip_install_from_pypi_fails():
    script = 'pip install --quiet \\\n    "dbt-core==1.11.16"\n'
    problems = check_startup_script("startup.sh", script)
    assert rules(problems) == ["packages:offline-install"]
    assert problems[0].line == 1 and "--require-hashes" in problems[0].message


def test_startup_script_curl_fails():
    assert rules(check_startup_script("startup.sh", "curl -sSL https://example.com/x.sh | sh\n")) == [
        "packages:no-network"
    ]


def test_spark_jars_packages_is_rejected_with_the_fix():
    params = "--conf spark.jars.packages=org.apache.kafka:kafka-clients:3.4.1 --conf spark.executor.cores=4"
    problems = check_spark_parameters("dag operations_events", params, JARS)
    assert rules(problems) == ["packages:spark-no-resolve"]
    assert "jars.lock.json" in problems[0].fix and problems[0].file == "dag operations_events"


def test_spark_dash_dash_packages_is_rejected():
    assert rules(check_spark_parameters("x", "--packages g:a:1", JARS)) == ["packages:spark-no-resolve"]


def test_spark_jars_must_be_locked_and_staged():
    staged = "--conf spark.jars=s3://{{ conf.get('platform', 'release_bucket') }}/packages/jars/kafka-clients-3.4.1.jar"
    assert check_spark_parameters("x", staged, JARS) == []
    unlocked = staged.replace("kafka-clients-3.4.1.jar", "kafka-clients-3.9.0.jar")
    assert rules(check_spark_parameters("x", unlocked, JARS)) == ["packages:spark-jar-locked"]
    elsewhere = "--conf spark.jars=s3://other/jars/kafka-clients-3.4.1.jar"
    assert rules(check_spark_parameters("x", elsewhere, JARS)) == ["packages:spark-jar-locked"]


def test_the_repository_has_no_errors():
    assert [p for p in check_repository(ROOT) if p.severity == "error"] == []


def test_source_scan_finds_a_literal_spark_jars_packages(tmp_path):
    for folder in ("dags", "pipeline_assets/spark", "stacks", "constructs"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "dags" / "job.py").write_text('CONF = {"spark.jars.packages": "g:a:1"}\n')
    problems = scan_sources(tmp_path)
    assert [(p.file, p.line, p.rule) for p in problems] == [("dags/job.py", 1, "packages:spark-no-resolve")]


def test_a_jar_list_entry_missing_from_the_lock_fails(tmp_path):
    for item in ("pipeline_assets", "dags", "stacks", "constructs"):
        shutil.copytree(ROOT / item, tmp_path / item, ignore=shutil.ignore_patterns("__pycache__"))
    jars = tuple(name.replace("commons-pool2-2.11.1.jar", "commons-pool2-2.12.0.jar") for name in KAFKA_STREAMING_JARS)
    problems = [p for p in check_repository(tmp_path, {"KAFKA_STREAMING_JARS": jars}) if p.severity == "error"]
    assert rules(problems) == ["packages:spark-jar-locked"]
    assert "commons-pool2-2.12.0.jar" in problems[0].message


def test_absent_staged_packages_are_a_warning_naming_the_directory_and_the_fix(tmp_path):
    (problem,) = check_staged(tmp_path)
    assert (problem.file, problem.rule, problem.severity) == ("build/packages", "packages:staged", "warning")
    assert "`make packages`" in problem.fix and "packages:required=true" in problem.fix
    (tmp_path / "build" / "packages").mkdir(parents=True)
    assert check_staged(tmp_path) == []
