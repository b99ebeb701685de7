"""pydantic errors as problems: the field, the line (the parent mapping's for a missing field), a rule id,
and a fix, with "did you mean" taken from the model's own field names."""

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from platform_vocabulary import yaml_source
from platform_vocabulary.yaml_source.validation import Problem, RuleViolation, problems_from


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spark(Strict):
    job: str
    size: Literal["small", "medium", "large"]


class S3(Strict):
    kind: Literal["s3"]
    prefix: str = Field(pattern=r"/$")


class Kafka(Strict):
    kind: Literal["kafka"]
    topic: str


class Pipeline(Strict):
    id: str
    retries: int = Field(default=3, ge=2)
    spark: Spark | None = None
    source: Annotated[S3 | Kafka, Field(discriminator="kind")] | None = None
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> "Pipeline":
        if self.source is not None and self.source.kind == "s3" and self.spark is None:
            raise RuleViolation("pipeline-shape", "spark: an s3 source needs a Spark job", fix="add a spark section")
        return self


def problems(text: str) -> list[Problem]:
    document = yaml_source.parse(text, "p.yaml")
    with pytest.raises(ValidationError) as caught:
        Pipeline.model_validate(document.data)
    return problems_from(caught.value, document, Pipeline, rules_at="model.py", anchor_fields=("source",))


def test_an_unknown_key_names_the_nearest_field_of_its_own_section():
    [top] = problems("id: a\nretires: 5\n")
    assert (top.field, top.line, top.rule) == ("retires", 2, "unknown-field")
    assert top.message == "unknown field `retires` in the file; did you mean `retries`?"
    assert top.fix == "rename it to `retries`"
    [nested] = problems("id: a\nspark:\n  job: j\n  sise: small\n  size: small\n")
    assert (nested.field, nested.line) == ("spark.sise", 4)
    assert "did you mean `size`?" in nested.message


def test_an_unknown_key_nothing_resembles_lists_what_the_section_takes():
    [problem] = problems("id: a\nspark:\n  job: j\n  size: small\n  colour: red\n")
    assert "did you mean" not in problem.message
    assert problem.fix == "remove it; `spark` takes: job, size"


def test_a_missing_field_points_at_the_mapping_it_belongs_in_and_lists_its_values():
    [problem] = problems("# a comment first\nid: a\nspark:\n  job: j\n")
    assert (problem.field, problem.line, problem.rule) == ("spark.size", 3, "missing-field")
    assert problem.message == "required field `size` is missing from `spark`"
    assert problem.fix == "add `size:` under `spark:` (line 3); one of small, medium, large"
    [top] = problems("# a comment first\nretries: 3\n")
    assert (top.field, top.line) == ("id", 2)  # the file's first key, not line 1's comment
    assert top.fix == "add `id:` to the file"


def test_a_union_member_is_found_by_its_tag_and_the_tag_is_not_part_of_the_field():
    [problem] = problems("id: a\nspark: {job: j, size: small}\nsource:\n  kind: s3\n  prefix: x\n")
    assert (problem.field, problem.line, problem.rule) == ("source.prefix", 5, "value-format")
    [unknown] = problems("id: a\nsource:\n  kind: kafka\n  topic: t\n  topik: t\n")
    assert unknown.field == "source.topik" and "did you mean `topic`?" in unknown.message


def test_a_missing_or_unknown_tag_names_the_allowed_kinds():
    [missing] = problems("id: a\nsource:\n  prefix: x/\n")
    assert (missing.field, missing.line, missing.rule) == ("source.kind", 2, "missing-field")
    assert missing.fix == "add `kind:` under `source:` (line 2); one of s3, kafka"
    [unknown] = problems("id: a\nsource:\n  kind: ftp\n")
    assert (unknown.field, unknown.line, unknown.rule) == ("source.kind", 3, "value-not-allowed")
    assert unknown.message == "must be one of 's3', 'kafka' (got 'ftp')"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("id: a\nretries: 1\n", "value-out-of-range"),
        ("id: a\nspark: {job: j, size: huge}\n", "value-not-allowed"),
        ("id: a\nspark: 5\n", "wrong-type"),
        ("id: a\ntags: [1]\n", "wrong-type"),
    ],
)
def test_each_kind_of_mistake_has_its_own_rule_id(text, rule):
    [problem] = problems(text)
    assert problem.rule == rule and problem.fix


def test_a_model_rule_names_itself_and_a_missing_section_points_at_the_anchor():
    [problem] = problems("id: a\nsource:\n  kind: s3\n  prefix: in/\n")
    assert (problem.field, problem.rule, problem.fix) == ("spark", "pipeline-shape", "add a spark section")
    assert problem.message == "an s3 source needs a Spark job" and problem.line == 2  # `source:`
    assert str(problem) == "p.yaml:2: spark: an s3 source needs a Spark job"
