"""Selection between two manifests: what state:modified+ would select, without its known gaps and noise."""

import copy
from pathlib import Path

import pytest

from cicd.dbt.datadiff.selection import ProjectSide, normalize_sql, select

P = "data_platform"


def model(name, sql, parents=(), macros=(), **config):
    return {
        "unique_id": f"model.{P}.{name}",
        "resource_type": "model",
        "name": name,
        "fqn": [P, name],
        "raw_code": sql,
        "original_file_path": f"models/{name}.sql",
        "database": "ci",
        "schema": "ci_marts",
        "alias": name,
        "config": {"materialized": "view", "contract": {"enforced": False}, "tags": [], "meta": {}, **config},
        "columns": {},
        "description": "",
        "depends_on": {"nodes": list(parents), "macros": list(macros)},
    }


def seed(name, checksum="same"):
    return {
        "unique_id": f"seed.{P}.{name}",
        "resource_type": "seed",
        "name": name,
        "fqn": [P, name],
        "original_file_path": f"seeds/{name}.csv",
        "checksum": {"name": "path", "checksum": checksum},
        "database": "ci",
        "schema": "ci_reference",
        "alias": name,
        "config": {"materialized": "seed", "column_types": {}},
        "depends_on": {"nodes": [], "macros": []},
    }


def manifest():
    """rates (seed) and raw (source) -> stg -> fct -> mart (exposure); other -> other_mart; a macro chain."""
    nodes = [
        seed("rates"),
        model("stg", "select * from {{ source('crm', 'raw') }}", [f"source.{P}.crm.raw"]),
        model(
            "fct",
            "select *, {{ money('x') }} from {{ ref('stg') }} join {{ ref('rates') }}",
            [f"model.{P}.stg", f"seed.{P}.rates"],
            [f"macro.{P}.money"],
        ),
        model("mart", "select * from {{ ref('fct') }} where d > {{ var('since') }}", [f"model.{P}.fct"]),
        model("other", "select 1 as a", []),
        model("other_mart", "select * from {{ ref('other') }}", [f"model.{P}.other"]),
    ]  # fmt: skip
    nodes_by_id = {n["unique_id"]: n for n in nodes}
    children: dict[str, list[str]] = {uid: [] for uid in nodes_by_id}
    children[f"source.{P}.crm.raw"] = []
    for node in nodes:
        for parent in node["depends_on"]["nodes"]:
            children.setdefault(parent, []).append(node["unique_id"])
    children[f"model.{P}.mart"].append(f"exposure.{P}.service")
    children[f"model.{P}.stg"].append(f"test.{P}.not_null_stg_id")
    return {
        "nodes": {**nodes_by_id, f"test.{P}.not_null_stg_id": {"resource_type": "test", "name": "not_null_stg_id"}},
        "sources": {f"source.{P}.crm.raw": {"database": "ci", "schema": "raw_crm", "identifier": "raw", "name": "raw"}},
        "macros": {
            f"macro.{P}.money": {"macro_sql": "{% macro money(c) %}round({{ c }}, {{ digits() }}){% endmacro %}",
                                  "depends_on": {"macros": [f"macro.{P}.digits"]}},
            f"macro.{P}.digits": {"macro_sql": "{% macro digits() %}2{% endmacro %}", "depends_on": {"macros": []}},
        },
        "exposures": {f"exposure.{P}.service": {"name": "service"}},
        "child_map": children,
    }  # fmt: skip


def side(tmp_path: Path, name: str, data: dict, vars_: dict | None = None, rates: str = "a,1\n") -> ProjectSide:
    project = tmp_path / name
    (project / "seeds").mkdir(parents=True)
    (project / "seeds" / "rates.csv").write_text(rates)
    (project / "dbt_project.yml").write_text(
        f"name: {P}\nvars:\n" + "".join(f"  {k}: {v}\n" for k, v in (vars_ or {"since": 1}).items())
    )
    return ProjectSide(data, project)


def names(uids):
    return sorted(uid.split(".")[-1] for uid in uids)


@pytest.fixture
def base(tmp_path):
    return side(tmp_path, "base", manifest())


def changed(tmp_path, edit, **kwargs) -> ProjectSide:
    data = copy.deepcopy(manifest())
    edit(data)
    return side(tmp_path, "head", data, **kwargs)


def node(data, name):
    return next(n for n in data["nodes"].values() if n.get("name") == name)


def test_a_sql_change_selects_the_model_and_everything_downstream_but_not_its_siblings(tmp_path, base):
    head = changed(tmp_path, lambda d: node(d, "stg").update(raw_code="select id from {{ source('crm', 'raw') }}"))
    selection = select(base, head)
    assert names(selection.modified) == ["stg"]
    assert selection.modified[f"model.{P}.stg"] == ["SQL changed"]
    assert names(selection.downstream) == ["fct", "mart"]
    assert selection.downstream[f"model.{P}.mart"] == [f"model.{P}.stg"]
    assert selection.exposures == {"service": [f"model.{P}.stg"]}
    assert names(selection.nodes) == ["fct", "mart", "stg"]
    assert [n.split(".")[-1] for n in selection.nodes] == ["stg", "fct", "mart"]  # parents first


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: node(d, "stg").update(raw_code="-- why\nselect *   from {{ source('crm', 'raw') }} /* c */"),
        lambda d: node(d, "stg").update(raw_code="{# note #}select * from {{ source('crm', 'raw') }}"),
        lambda d: node(d, "stg").update(description="A new description"),
        lambda d: node(d, "stg")["config"].update(tags=["crm"], meta={"o": 1}, access="public", persist_docs={}),
    ],
    ids=["sql-comment-and-whitespace", "jinja-comment", "description", "tags-meta-access-docs"],
)  # fmt: skip
def test_edits_that_change_no_data_select_nothing(tmp_path, base, edit):
    selection = select(base, changed(tmp_path, edit))
    assert selection.nodes == []


def test_a_string_literal_keeps_its_dashes_and_spaces():
    assert normalize_sql("select '--  not a comment' as a -- a comment") == "select '--  not a comment' as a"
    assert normalize_sql("select 'a  b'") != normalize_sql("select 'a b'")


def test_a_macro_changed_two_calls_away_selects_the_models_that_use_it(tmp_path, base):
    def edit(data):
        data["macros"][f"macro.{P}.digits"]["macro_sql"] = "{% macro digits() %}0{% endmacro %}"

    selection = select(base, changed(tmp_path, edit))
    assert selection.modified == {f"model.{P}.fct": ["macro digits changed"]}
    assert names(selection.downstream) == ["mart"]


def test_a_project_var_change_selects_the_models_that_read_it_unless_the_command_line_pins_it(tmp_path, base):
    head = changed(tmp_path, lambda d: None, vars_={"since": 2})
    assert select(base, head).modified == {f"model.{P}.mart": ["var since changed"]}
    assert select(base, head, pinned_vars={"since": 1}).nodes == []


def test_a_seed_is_compared_by_its_file_even_when_dbt_only_recorded_its_path(tmp_path, base):
    # dbt keeps only the path as the checksum of a seed over 1 MiB: the manifests are identical here.
    head = changed(tmp_path, lambda d: None, rates="a,2\n")
    selection = select(base, head)
    assert selection.modified == {f"seed.{P}.rates": ["seed file changed"]}
    assert names(selection.downstream) == ["fct", "mart"]


def test_a_source_pointed_elsewhere_selects_its_readers(tmp_path, base):
    head = changed(tmp_path, lambda d: d["sources"][f"source.{P}.crm.raw"].update(schema="raw_crm_v2"))
    assert select(base, head).modified == {f"model.{P}.stg": ["source crm.raw moved"]}


def test_a_data_relevant_config_or_contract_type_change_selects_the_model(tmp_path, base):
    def edit(data):
        node(data, "other")["config"]["materialized"] = "table"
        node(data, "other_mart")["config"]["contract"] = {"enforced": True}
        node(data, "other_mart")["columns"] = {"a": {"name": "a", "data_type": "numeric(5, 2)"}}

    selection = select(base, changed(tmp_path, edit))
    assert selection.modified[f"model.{P}.other"] == ["config materialized: 'view' -> 'table'"]
    assert "config contract_enforced: False -> True" in selection.modified[f"model.{P}.other_mart"]
    assert "contract column types changed" in selection.modified[f"model.{P}.other_mart"]


def test_added_and_removed_models_are_selected_with_what_reads_them(tmp_path, base):
    def edit(data):
        del data["nodes"][f"model.{P}.other"]
        data["nodes"][f"model.{P}.new"] = model("new", "select 2 as b")

    selection = select(base, changed(tmp_path, edit))
    assert selection.added == [f"model.{P}.new"] and selection.removed == [f"model.{P}.other"]
    assert names(selection.modified) == ["new", "other"]
    assert names(selection.downstream) == ["other_mart"]
