"""The pipeline templates of `cicd dags new`: each renders a spec the model accepts, with the scaffold's rules
kept equal to the model's."""

import datetime as dt
import typing

import pytest
import yaml

from cicd.dags import scaffold
from platform_vocabulary import pipeline_spec as spec_model

OWNERS = ("crm-data", "product-data", "operations-data", "platform")
JOBS = {"crm_accounts_batch": "batch", "operations_events_stream": "streaming"}
SELECTORS = frozenset({"crm_accounts", "customer_health"})


def choices(pipeline_id="crm_contacts", **given):
    options = {"source": "snowflake_stage", "domain": None, "owner": None, "spark_job": None, "dbt_selector": None}
    options |= given
    return scaffold.resolve_choices(pipeline_id, **options, owners=OWNERS, spark_jobs=JOBS, dbt_selectors=SELECTORS)


@pytest.mark.parametrize(
    ("given", "shape"),
    [
        ({"source": "s3", "spark_job": "crm_accounts_batch"}, "batch"),
        ({"source": "s3", "spark_job": "crm_accounts_batch", "dbt_selector": "crm_accounts"}, "batch"),
        ({"source": "kafka", "spark_job": "operations_events_stream"}, "streaming"),
        ({"source": "snowflake_stage"}, "batch"),
        ({"source": "none", "dbt_selector": "customer_health"}, "transform"),
    ],
)
def test_every_source_template_is_a_spec_the_model_accepts(tmp_path, given, shape):
    path = tmp_path / "crm_contacts.yaml"
    path.write_text(scaffold.spec_source(choices(**given), today=dt.date(2026, 12, 1)))
    spec = spec_model.load_spec(path)
    assert (spec.id, spec.domain, spec.owner, spec.shape) == ("crm_contacts", "crm", "crm-data", shape)
    assert spec.start_date == dt.date(2026, 12, 1)
    assert (spec.dbt.selector if spec.dbt else None) == given.get("dbt_selector")


def test_the_template_marks_what_a_person_must_decide(tmp_path):
    text = scaffold.spec_source(choices(source="s3", spark_job="crm_accounts_batch"))
    todo = [line.split(":")[0].strip() for line in text.splitlines() if "# TODO" in line and not line.startswith("#")]
    assert todo == ["description", "schedule", "prefix", "table", "freshness_sla"]
    assert text.splitlines()[0] == scaffold.SPEC_MODELINE
    assert yaml.safe_load(text)["load"]["table"] == "RAW_CRM.CRM_CONTACTS"


def test_the_domain_comes_from_the_id_or_the_option():
    assert choices("operations_orders").domain == "operations"
    assert choices("orders_daily", domain="operations").owner == "operations-data"
    with pytest.raises(scaffold.ScaffoldError, match="give the pipeline's domain"):
        choices("orders_daily")


def test_the_scaffold_rules_are_the_model_s():
    id_pattern = next(m.pattern for m in spec_model.PipelineSpec.model_fields["id"].metadata if hasattr(m, "pattern"))
    assert scaffold.PIPELINE_ID.pattern == id_pattern
    assert typing.get_args(spec_model.Domain) == scaffold.DOMAINS
    source_union = typing.get_args(typing.get_args(spec_model.Source)[0])
    kinds = tuple(typing.get_args(member.model_fields["kind"].annotation)[0] for member in source_union)
    assert (*kinds, "none") == scaffold.SOURCES
