"""The diff's primary key comes from what the project declares: constraints, then key tests."""

from cicd.dbt.datadiff.keys import primary_key

UID = "model.p.m"


def manifest(node: dict, *tests: tuple[str, dict]) -> dict:
    nodes = {UID: {"columns": {}, **node}}
    for index, (name, kwargs) in enumerate(tests):
        nodes[f"test.p.t{index}"] = {
            "resource_type": "test",
            "attached_node": UID,
            "column_name": kwargs.get("column_name"),
            "test_metadata": {"name": name, "kwargs": kwargs},
            "config": {"enabled": kwargs.pop("enabled", True)},
        }
    return {"nodes": nodes}


def columns(*names: str) -> dict:
    return {name: {"name": name, "constraints": []} for name in names}


def test_a_primary_key_constraint_wins_over_tests():
    node = {"columns": columns("a", "b"), "constraints": [{"type": "primary_key", "columns": ["a", "b"]}]}
    assert primary_key(manifest(node, ("unique", {"column_name": "b"})), UID) == (["a", "b"], "primary_key constraint")


def test_a_column_constraint_is_a_key():
    node = {"columns": {"id": {"name": "id", "constraints": [{"type": "primary_key"}]}}}
    assert primary_key(manifest(node), UID) == (["id"], "primary_key constraint")


def test_one_column_tested_unique_and_not_null_not_every_unique_column_together():
    # dbt's own inference would give [product_id, sku]: a changed sku would read as a row gone and a row new.
    node = {"columns": columns("product_id", "sku")}
    tests = [("unique", {"column_name": "sku"}), ("unique", {"column_name": "product_id"}),
             ("not_null", {"column_name": "product_id"}), ("not_null", {"column_name": "sku"})]  # fmt: skip
    assert primary_key(manifest(node, *tests), UID) == (["product_id"], "unique + not_null tests")


def test_a_combination_test_then_a_lone_unique_test():
    node = {"columns": columns("a", "b")}
    combo = ("unique_combination_of_columns", {"combination_of_columns": ["a", "b"]})
    assert primary_key(manifest(node, combo), UID) == (["a", "b"], "unique_combination_of_columns test")
    assert primary_key(manifest(node, ("unique", {"column_name": "b"})), UID) == (["b"], "unique test")


def test_meta_names_the_key_explicitly_and_no_declaration_means_no_key():
    node = {"columns": columns("a"), "config": {"meta": {"data_diff": {"key": ["A", "b"]}}}}
    assert primary_key(manifest(node), UID) == (["a", "b"], "meta.data_diff.key")
    assert primary_key(manifest({"columns": columns("a")}), UID) == ([], "none")
