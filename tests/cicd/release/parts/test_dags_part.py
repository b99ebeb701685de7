"""The dags part: the DAG folder plus the run-time packages the workers import, and nothing from cicd/."""

import ast
from pathlib import Path

from cicd.release.parts import all_parts

ROOT = Path(__file__).resolve().parents[4]


def shipped() -> dict[str, bytes]:
    return dict(all_parts()["dags"](ROOT))


def test_the_write_audit_publish_package_ships_in_the_dag_folder():
    files = shipped()
    for module in ("__init__.py", "cli.py", "runner.py", "wap.py"):
        assert f"pipeline_assets/dbt_wap/{module}" in files
    assert not [path for path in files if path.startswith("cicd/")]


def test_shipped_python_imports_nothing_the_workers_lack():
    """MWAA has the DAG folder only: a shipped module importing cicd/, config/ or an unshipped
    pipeline_assets package fails there (at parse time for the DAG files) while passing locally."""
    files = shipped()
    offenders = []
    for path, data in files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(data)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] in {"cicd", "config"}:
                    offenders.append(f"{path}: {name}")
                elif parts[0] == "pipeline_assets" and len(parts) > 1:
                    package = f"pipeline_assets/{parts[1]}/"
                    if not any(shipped_path.startswith(package) for shipped_path in files):
                        offenders.append(f"{path}: {name} ({package} is not shipped)")
    assert offenders == []


def test_the_spec_loader_ships_beside_the_specs():
    assert "platform_vocabulary/yaml_source/__init__.py" in shipped()


def test_the_transform_task_runs_the_shipped_module():
    """WAP_ENTRY read from the source: importing platform_dags needs the DAG folder on sys.path."""
    tree = ast.parse((ROOT / "dags/platform_dags/dbt.py").read_text())
    [entry] = [n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "WAP_ENTRY"]
    module = ast.literal_eval(entry)[1]
    assert f"{module.replace('.', '/')}.py" in shipped()
