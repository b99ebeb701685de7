from cicd.dbt.results import findings_from_output, findings_from_run

MANIFEST = {
    "nodes": {
        "model.p.orders": {"resource_type": "model", "name": "orders", "original_file_path": "models/marts/orders.sql"},
        "test.p.unique_orders_order_id.1": {
            "resource_type": "test",
            "name": "unique_orders_order_id",
            "original_file_path": "models/marts/_models.yml",
            "attached_node": "model.p.orders",
            "column_name": "order_id",
            "test_metadata": {"name": "unique"},
        },
    },
    "unit_tests": {
        "unit_test.p.orders.t": {
            "resource_type": "unit_test",
            "name": "t",
            "model": "orders",
            "original_file_path": "models/marts/_models.yml",
        }
    },
}
CONTRACT_MESSAGE = """Compilation Error in model orders (models/marts/orders.sql)
  This model has an enforced contract that failed.
  Please ensure the name, data_type, and number of columns in your contract match the columns in your model.

  | column_name | definition_type | contract_type | mismatch_reason    |
  | ----------- | --------------- | ------------- | ------------------ |
  | is_active   | VARCHAR         | BOOLEAN       | data type mismatch |
  | extra       | INTEGER         |               | missing in contract |
"""


def run_results(*results):
    return {"results": list(results)}


def test_failed_data_test_names_the_yaml_the_subject_and_the_row_count():
    [finding] = findings_from_run(
        run_results({"unique_id": "test.p.unique_orders_order_id.1", "status": "fail", "failures": 3, "message": ""}),
        MANIFEST,
        where="DuckDB",
    )
    assert finding.rule == "dbt:test-failed"
    assert finding.file == "dbt_project/models/marts/_models.yml"
    assert finding.message == "unique test unique_orders_order_id on orders.order_id failed on DuckDB: 3 failing row(s)"


def test_contract_violation_lists_each_mismatched_column():
    [finding] = findings_from_run(
        run_results({"unique_id": "model.p.orders", "status": "error", "message": CONTRACT_MESSAGE}),
        MANIFEST,
        where="DuckDB",
    )
    assert finding.rule == "dbt:contract-violation"
    assert finding.file == "dbt_project/models/marts/orders.sql"
    assert "is_active: boolean in the contract, varchar in the SQL (data type mismatch)" in finding.message
    assert "extra: not in contract in the contract, integer in the SQL (missing in contract)" in finding.message


def test_model_and_unit_test_errors_and_passes():
    findings = findings_from_run(
        run_results(
            {
                "unique_id": "model.p.orders",
                "status": "error",
                "message": "Database Error\n  boom\ncompiled code at /x",
            },
            {"unique_id": "unit_test.p.orders.t", "status": "fail", "message": "actual differs from expected"},
            {"unique_id": "test.p.unique_orders_order_id.1", "status": "pass"},
            {"unique_id": "model.p.orders", "status": "skipped"},
        ),
        MANIFEST,
        where="fakesnow",
    )
    assert [f.rule for f in findings] == ["dbt:model-error", "dbt:unit-test-failed"]
    assert "compiled code" not in findings[0].message and "boom" in findings[0].message
    assert findings[1].message.startswith("unit test t of model orders failed on fakesnow")


def test_compile_errors_from_console_output():
    output = (
        "12:00:00  Compilation Error in model customer_health (models/marts/crm/customer_health.sql)\n"
        "  'dbt' is undefined. This can happen when calling a macro that does not exist.\n\n"
    )
    [finding] = findings_from_output(output, where="Snowflake target prod (offline compile)")
    assert finding.rule == "dbt:compilation-error"
    assert finding.file == "dbt_project/models/marts/crm/customer_health.sql"
    assert "'dbt' is undefined" in finding.message


def test_project_level_parse_errors_point_at_the_project_file():
    [finding] = findings_from_output(
        "12:00:00  Parsing Error\n  Invalid models config given in x.yml\n", where="DuckDB"
    )
    assert finding.rule == "dbt:parsing-error"
    assert finding.file == "dbt_project/dbt_project.yml"


def test_nothing_recognisable_gives_no_findings():
    assert findings_from_output("Segmentation fault", where="DuckDB") == []
