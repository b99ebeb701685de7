"""The import graph: what each Python file imports or reads, found from the source with `ast`."""

from pathlib import Path

import pytest

from cicd.gate.imports import ImportGraph, repo_files


def write(root: Path, files: dict[str, str]) -> ImportGraph:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return ImportGraph(root, repo_files(root))


def test_imports_are_followed_transitively_with_their_package_inits(tmp_path):
    graph = write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/low.py": "VALUE = 1\n",
            "pkg/mid.py": "from .sub import low\n",
            "pkg/top.py": "import pkg.mid\n",
        },
    )
    assert graph.dependencies({"pkg/top.py"}) == {
        "pkg/top.py",
        "pkg/__init__.py",
        "pkg/mid.py",
        "pkg/sub/__init__.py",
        "pkg/sub/low.py",
    }
    assert graph.importers({"pkg/sub/low.py"}) == {"pkg/sub/low.py", "pkg/mid.py", "pkg/top.py"}


def test_constructs_namespace_modules_resolve_without_an_init(tmp_path):
    graph = write(
        tmp_path,
        {
            "constructs/dashboards.py": "X = 1\n",
            "stacks/__init__.py": "",
            "stacks/monitoring.py": "from constructs import Construct\nfrom constructs.dashboards import X\n",
        },
    )
    assert "constructs/dashboards.py" in graph.dependencies({"stacks/monitoring.py"})


def test_the_dag_folder_is_a_source_root_as_on_mwaa(tmp_path):
    graph = write(
        tmp_path,
        {
            "dags/platform_dags/__init__.py": "",
            "dags/platform_dags/spec.py": "",
            "dags/crm.py": "from platform_dags import spec\n",
        },
    )
    assert "dags/platform_dags/spec.py" in graph.dependencies({"dags/crm.py"})


def test_modules_named_in_strings_and_discovered_packages_are_dependencies(tmp_path):
    graph = write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/cli.py": 'import importlib\nMODULES = ("app.audit_cli",)\n',
            "app/audit_cli.py": "",
            "app/checks/__init__.py": "",
            "app/checks/lint.py": "",
            "app/registry.py": "import pkgutil\nimport app.checks as package\npkgutil.iter_modules(package.__path__)\n",
        },
    )
    assert "app/audit_cli.py" in graph.dependencies({"app/cli.py"})
    assert "app/checks/lint.py" in graph.dependencies({"app/registry.py"})


def test_a_conftest_is_imported_by_every_test_below_it(tmp_path):
    graph = write(
        tmp_path,
        {
            "lib.py": "",
            "tests/stacks/conftest.py": "import lib\n",
            "tests/stacks/test_stack.py": "",
            "tests/other/test_other.py": "",
        },
    )
    assert graph.importers({"lib.py"}) == {"lib.py", "tests/stacks/conftest.py", "tests/stacks/test_stack.py"}


def test_a_file_that_does_not_parse_depends_on_everything(tmp_path):
    graph = write(tmp_path, {"a.py": "", "broken.py": "def f(:\n"})
    assert "broken.py" in graph.importers({"a.py"})
    assert graph.importers(set()) == set()


@pytest.mark.parametrize(
    ("text", "reads"),
    [
        ('ROOT / "dags" / "pipelines"', True),  # a folder above it
        ('"dags/pipelines"', True),
        ('"pipelines/crm.yaml"', True),  # the end of its path
        ('"crm.yaml"', True),  # its name
        ('"pipelines"', False),  # a lone folder name, far away, is too common to count
        ('"dbt_project"', False),
    ],
)
def test_data_files_are_read_by_modules_that_name_them(tmp_path, text, reads):
    graph = write(
        tmp_path, {"dags/pipelines/crm.yaml": "id: crm\n", "reader.py": f"from pathlib import Path\nX = {text}\n"}
    )
    assert (graph.readers_of("dags/pipelines/crm.yaml") == {"reader.py"}) is reads


def test_a_lone_folder_name_counts_for_modules_in_the_same_top_folder(tmp_path):
    graph = write(
        tmp_path,
        {
            "dags/pipelines/crm.yaml": "",
            "dags/helpers/factory.py": 'SPEC_FOLDER = "pipelines"\n',
            "far.py": '"pipelines"',
        },
    )
    assert graph.readers_of("dags/pipelines/crm.yaml") == {"dags/helpers/factory.py"}


def test_a_module_that_globs_python_files_beside_it_depends_on_them(tmp_path):
    graph = write(
        tmp_path,
        {
            "data/__init__.py": "",
            "data/orders.py": "",
            "data/generate.py": 'from pathlib import Path\nMODS = Path(__file__).parent.glob("*.py")\n',
        },
    )
    assert "data/orders.py" in graph.dependencies({"data/generate.py"})


def test_naming_an_import_only_package_does_not_read_its_modules(tmp_path):
    graph = write(tmp_path, {"stacks/__init__.py": "", "stacks/storage.py": "", "lint.py": 'ROOTS = ["stacks"]\n'})
    assert graph.readers_of("stacks/storage.py") == set()


def test_a_deleted_module_is_traced_through_the_names_that_import_it(tmp_path):
    graph = write(tmp_path, {"pkg/__init__.py": "", "tests/test_gone.py": "from pkg.gone import f\n"})
    assert graph.importers_by_name("pkg/gone.py") == {"tests/test_gone.py"}


def test_repo_files_hold_untracked_files_and_leave_out_ignored_output(tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("/build/\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.json").write_text("{}")
    (tmp_path / "new.py").write_text("")
    assert repo_files(tmp_path) == [".gitignore", "new.py"]


def test_a_bare_word_in_a_string_is_data_not_an_import(tmp_path):
    graph = write(tmp_path, {"dags/crm_accounts.py": "", "tests/test_spark.py": 'PIPELINE = "crm_accounts"\n'})
    assert graph.dependencies({"tests/test_spark.py"}) == {"tests/test_spark.py"}


def test_a_path_built_from_several_strings_names_that_file_not_the_whole_top_folder(tmp_path):
    graph = write(
        tmp_path,
        {
            "pipeline_assets/spark/jobs.py": "",
            "pipeline_assets/ledger/handler.py": "",
            "pipeline_assets/dbt/models/a.sql": "",
            "cicd/reader.py": 'JOBS = ROOT / "pipeline_assets" / "spark" / "jobs.py"\n'
            'MODELS = ROOT.joinpath("pipeline_assets", "dbt")\n',
        },
    )
    assert graph.readers_of("pipeline_assets/spark/jobs.py") == {"cicd/reader.py"}
    assert graph.readers_of("pipeline_assets/dbt/models/a.sql") == {"cicd/reader.py"}
    assert graph.readers_of("pipeline_assets/ledger/handler.py") == set()


def test_discovery_loads_the_package_a_file_names_not_every_package_above_its_imports(tmp_path):
    graph = write(
        tmp_path,
        {
            "gate/__init__.py": "",
            "gate/model.py": "",
            "gate/bench.py": 'CHANGE = "stacks/storage.py"\n',
            "gate/checks/__init__.py": "",
            "gate/checks/lint.py": "",
            "gate/registry.py": "import pkgutil\nimport gate.checks\nfrom gate.model import X\npkgutil.iter_modules\n",
        },
    )
    deps = graph.dependencies({"gate/registry.py"})
    assert "gate/checks/lint.py" in deps
    assert "gate/bench.py" not in deps


def test_a_bare_tests_string_is_a_name_not_a_read_of_the_whole_suite(tmp_path):
    graph = write(
        tmp_path,
        {"tests/fixtures/a.json": "{}", "tests/conftest.py": 'SESSION = start(app_name="tests")\n'},
    )
    assert graph.readers_of("tests/fixtures/a.json") == set()
    assert graph.named_files("tests/conftest.py") == set()


def test_named_files_are_readers_of_inverted(tmp_path):
    graph = write(
        tmp_path,
        {
            "dags/pipelines/a.yaml": "",
            "dags/platform_dags/spec.py": 'SPEC_FOLDER = "pipelines"\n',
            "cicd/check.py": 'FOLDER = "dags"\n',
            "tests/test_x.py": 'DATA = "dags/pipelines/a.yaml"\n',
        },
    )
    for path in graph.files:
        assert graph.readers_of(path) == {s for s in graph.sources if path in graph.named_files(s)}


def test_unchanged_files_are_not_parsed_again_and_a_changed_one_is(tmp_path, monkeypatch):
    from cicd.gate import imports

    files = {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "X = 'data/x.json'\n"}
    first = write(tmp_path, files)
    cache = tmp_path / "build" / "scan.json"
    ImportGraph(tmp_path, first.files, scan_cache=cache)
    parsed = []
    real = imports._scan
    monkeypatch.setattr(imports, "_scan", lambda data, path: parsed.append(path) or real(data, path))
    again = ImportGraph(tmp_path, first.files, scan_cache=cache)
    assert parsed == []
    assert again.dependencies({"pkg/a.py"}) == first.dependencies({"pkg/a.py"})
    assert again.sources["pkg/b.py"].strings == {"data/x.json"}
    (tmp_path / "pkg" / "b.py").write_text("import pkg.a\n")
    changed = ImportGraph(tmp_path, first.files, scan_cache=cache)
    assert parsed == ["pkg/b.py"]
    assert "pkg/a.py" in changed.sources["pkg/b.py"].imports
