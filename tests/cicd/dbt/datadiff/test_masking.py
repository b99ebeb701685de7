"""The report masks a model's columns like the masked copies below prod: tags, upstream tags, name rules."""

from cicd.dbt.datadiff.masking import Masking


def column(name: str, **meta) -> dict:
    return {name: {"name": name, "config": {"meta": meta}}}


MANIFEST = {
    "sources": {"source.p.crm.contacts": {"columns": {**column("email", pii=True, masking="email"),
                                                      **column("phone", pii=True, masking="redact")}}},
    "nodes": {
        "model.p.stg": {"columns": {**column("email", pii=True), **column("phone")}},
        "model.p.mart": {"columns": {**column("primary_email", pii=True), **column("email")}},
    },
    "parent_map": {"model.p.stg": ["source.p.crm.contacts"], "model.p.mart": ["model.p.stg"]},
}  # fmt: skip


def test_a_bare_pii_tag_keeps_the_strategy_the_column_has_upstream():
    assert Masking([MANIFEST], "model.p.stg").strategy("email") == "email"


def test_a_pass_through_column_nobody_retagged_is_still_masked():
    masking = Masking([MANIFEST], "model.p.mart")
    assert masking.strategy("email") == "email"
    assert masking.strategy("phone") == "redact"  # tagged on the source only


def test_an_own_tag_without_upstream_is_a_token_and_names_and_free_text_follow_mask_py_rules():
    masking = Masking([MANIFEST], "model.p.mart")
    assert masking.strategy("primary_email") == "token"
    assert masking.strategy("first_name") == "token"
    assert masking.strategy("notes") == "null"
    assert masking.strategy("order_count") is None
