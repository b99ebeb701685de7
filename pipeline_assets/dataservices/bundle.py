"""The data-service bundle: the files the release carries under dataservices/<service>/.

    service.json    what to publish: assistant, datasets, their export query and columns, limits
    metadata.json   the Data Analyst metadata (da_version 2.0), keyed by plain dataset names
    glossary.json   the business terms the assistant should understand
    contract.json   the published columns and types: what the breaking-change check compares

The build writes these (cicd/dataservices/build.py); the publish task reads them back from the
release in S3. Both sides use these models, so they cannot disagree about the format.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline_assets.dataservices.types import AssistantType

FORMAT_VERSION = 1
SERVICE_FILE, METADATA_FILE, GLOSSARY_FILE, CONTRACT_FILE = (
    "service.json",
    "metadata.json",
    "glossary.json",
    "contract.json",
)
FILES = (SERVICE_FILE, METADATA_FILE, GLOSSARY_FILE, CONTRACT_FILE)
MIB = 1024 * 1024
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Frozen):
    """Size limits for the CSV export and the upload.

    The assistant's documentation states no number (its error codes only say a file can be too
    large), so these defaults are our own, conservative assumption; a mart may lower or raise them
    in its meta. A dataset above max_file_bytes is cut into parts; above max_total_bytes the export
    fails, because a dataset that large belongs in an aggregate, not in an assistant.
    """

    max_file_bytes: int = Field(default=25 * MIB, ge=1024)
    max_request_bytes: int = Field(default=100 * MIB, ge=1024)
    max_total_bytes: int = Field(default=500 * MIB, ge=1024)


class Column(_Frozen):
    name: str
    type: AssistantType
    data_type: str  # the dbt contract type it came from
    description: str


class Relation(_Frozen):
    database: str | None
    schema_: str = Field(alias="schema")
    identifier: str

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Dataset(_Frozen):
    name: str
    model: str  # dbt unique_id, e.g. model.data_platform.customer_health
    relation: Relation
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]
    description: str

    def export_sql(self, schema: str | None = None) -> str:
        """SELECT of the published columns only, in a stable order, so a re-export is byte-identical.

        The database is left to the connection (it differs per environment); names were checked
        against the column rule at build time, so they need no quoting.
        """
        names = [c.name for c in self.columns]
        order = list(self.order_by or names)
        table = [schema or self.relation.schema_, self.relation.identifier]
        unsafe = [n for n in (*names, *order, *table) if not _IDENTIFIER.match(n)]
        if unsafe:
            raise ValueError(f"dataset {self.name}: {unsafe} are not plain identifiers; refusing to build SQL")
        # Identifiers only, each matched against _IDENTIFIER above: nothing here comes from data.
        sql = f"select {', '.join(names)} from {table[0]}.{table[1]} order by {', '.join(order)}"  # noqa: S608
        return sql


class GlossaryTerm(_Frozen):
    term: str = Field(min_length=1)
    definition: str = Field(min_length=1)


class Service(_Frozen):
    format_version: int = FORMAT_VERSION
    service: str
    assistant: str  # logical name; the secret maps it to an assistant id per environment
    version: int = Field(ge=1)
    datasets: tuple[Dataset, ...] = Field(min_length=1)
    limits: Limits = Limits()

    def dataset(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise KeyError(f"service {self.service} has no dataset {name!r}")


def contract_of(service: Service) -> dict[str, Any]:
    """The part of a service that consumers depend on: datasets, their columns and types."""
    return {
        "service": service.service,
        "assistant": service.assistant,
        "version": service.version,
        "datasets": {d.name: {c.name: c.type for c in d.columns} for d in service.datasets},
    }


def _dump(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


class ServiceBundle(_Frozen):
    service: Service
    metadata: dict[str, Any]
    glossary: tuple[GlossaryTerm, ...] = ()

    def files(self) -> dict[str, bytes]:
        """The bundle's files; deterministic bytes, so an unchanged service keeps its release hash."""
        return {
            SERVICE_FILE: _dump(self.service.model_dump(mode="json", by_alias=True)),
            METADATA_FILE: _dump(self.metadata),
            GLOSSARY_FILE: _dump({"terms": [t.model_dump() for t in self.glossary]}),
            CONTRACT_FILE: _dump(contract_of(self.service)),
        }

    def content_sha256(self) -> str:
        digest = hashlib.sha256()
        for name, data in sorted(self.files().items()):
            digest.update(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
        return digest.hexdigest()

    def glossary_text(self) -> str:
        """The glossary as the assistant's glossary field takes it: one 'term: definition' per line."""
        return "\n".join(f"{t.term}: {' '.join(t.definition.split())}" for t in self.glossary)

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> ServiceBundle:
        missing = [name for name in (SERVICE_FILE, METADATA_FILE, GLOSSARY_FILE) if name not in files]
        if missing:
            raise ValueError(f"data-service bundle is missing {', '.join(missing)}")
        glossary = json.loads(files[GLOSSARY_FILE])
        return cls(
            service=Service.model_validate_json(files[SERVICE_FILE]),
            metadata=json.loads(files[METADATA_FILE]),
            glossary=tuple(GlossaryTerm.model_validate(t) for t in glossary.get("terms", [])),
        )
