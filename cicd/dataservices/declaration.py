"""The opt-in a dbt mart declares in `config.meta.data_service` (documented in docs/data-services.md).

Only what dbt cannot say lives here: which assistant, under which dataset name, which columns are
published, the order of the export, and the glossary. Descriptions and types are never repeated
here; they come from the model's documentation and contract.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline_assets.dataservices.bundle import MIB, GlossaryTerm, Limits


class LimitsMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_file_mb: int | None = Field(default=None, ge=1, le=1024)
    max_request_mb: int | None = Field(default=None, ge=1, le=4096)
    max_total_mb: int | None = Field(default=None, ge=1, le=16384)

    def resolve(self) -> Limits:
        default = Limits()
        return Limits(
            max_file_bytes=self.max_file_mb * MIB if self.max_file_mb else default.max_file_bytes,
            max_request_bytes=self.max_request_mb * MIB if self.max_request_mb else default.max_request_bytes,
            max_total_bytes=self.max_total_mb * MIB if self.max_total_mb else default.max_total_bytes,
        )


class DataServiceMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    assistant: str = Field(min_length=1, description="logical assistant name; the secret maps it to an id")
    service: str | None = Field(default=None, description="service the dataset belongs to (default: dataset name)")
    dataset: str | None = Field(default=None, description="dataset / CSV name (default: the model name)")
    columns: tuple[str, ...] = Field(min_length=1, description="the published columns, in CSV order")
    order_by: tuple[str, ...] = Field(default=(), description="export order (default: the published columns)")
    version: int = Field(default=1, ge=1, description="raise it to publish a breaking change on purpose")
    glossary: tuple[GlossaryTerm, ...] = ()
    limits: LimitsMeta = LimitsMeta()
