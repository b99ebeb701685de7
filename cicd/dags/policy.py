"""The DAG policy (policy.yaml) as a typed object."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from platform_vocabulary import yaml_source

POLICY_FILE = Path(__file__).resolve().parent / "policy.yaml"


class DagPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    owners: tuple[str, ...] = Field(min_length=1)
    tags: tuple[str, ...] = Field(min_length=1)
    min_retries: int = Field(ge=0)
    max_active_runs: int = Field(ge=1)
    parse_budget_seconds: float = Field(gt=0)
    import_timeout_seconds: int = Field(ge=1)
    wap_pool: str = Field(min_length=1)


def load_policy(path: Path = POLICY_FILE) -> DagPolicy:
    return DagPolicy.model_validate(yaml_source.load(path).data)
