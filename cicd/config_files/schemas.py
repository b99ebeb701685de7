"""JSON Schemas generated from the pydantic models, for editors (completion, hover, squiggles as you type).

Each YAML file names its schema on its first line, which the YAML language server (VS Code's YAML
extension, and editors built on it) reads:

    # yaml-language-server: $schema=environment.schema.json

The schemas are generated, committed, and kept equal to the models by a test; `cicd config schema`
rewrites them after a model changes. The models stay the authority: the gate validates with them,
and rules across fields (prod must require an approval, a source's shape) are theirs alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

MODELINE = "# yaml-language-server: $schema="


@dataclass(frozen=True)
class EditorSchema:
    path: str  # where the schema is committed, relative to the repository root
    pattern: str  # the YAML files that reference it (a glob, relative to the root)
    generate: Callable[[Path], dict[str, Any]]
    exclude: tuple[str, ...] = ()  # file names the glob matches that are not of this schema

    def files(self, root: Path) -> list[Path]:
        return sorted(p for p in root.glob(self.pattern) if p.name not in self.exclude)

    def render(self, root: Path) -> str:
        return json.dumps(self.generate(root), indent=2) + "\n"

    def modeline(self, yaml_file: Path, root: Path) -> str:
        return f"{MODELINE}{Path(os.path.relpath(root / self.path, yaml_file.parent)).as_posix()}"


def _environment(_: Path) -> dict[str, Any]:
    from config.model import EnvironmentConfig

    schema = EnvironmentConfig.model_json_schema()
    # The loader takes the name from the file name (dev.yaml is dev), so the file need not repeat it.
    schema["required"] = [name for name in schema.get("required", []) if name != "name"]
    return schema


def _delivery(_: Path) -> dict[str, Any]:
    from config.model import DeliveryConfig

    return DeliveryConfig.model_json_schema()


def _pipeline_spec(root: Path) -> dict[str, Any]:
    from pydantic.json_schema import GenerateJsonSchema

    from platform_vocabulary import pipeline_spec as spec

    class SpecDefaults(GenerateJsonSchema):
        """Defaults as a spec writes them: a duration is '5m', not ISO 8601's 'PT5M'."""

        def encode_default(self, dft: Any) -> Any:
            return spec.format_duration(dft) if isinstance(dft, timedelta) else super().encode_default(dft)

    return dict(spec.PipelineSpec.model_json_schema(schema_generator=SpecDefaults))


SCHEMAS: tuple[EditorSchema, ...] = (
    EditorSchema("config/environment.schema.json", "config/*.yaml", _environment, exclude=("delivery.yaml",)),
    EditorSchema("config/delivery.schema.json", "config/delivery.yaml", _delivery),
    EditorSchema("dags/platform_dags/spec.schema.json", "dags/pipelines/*.yaml", _pipeline_spec),
)


def stale(root: Path) -> list[str]:
    """The committed schemas that differ from what the models generate now."""
    return [s.path for s in SCHEMAS if not (root / s.path).exists() or (root / s.path).read_text() != s.render(root)]


def files_without_modeline(root: Path) -> list[str]:
    """YAML files whose first line does not point at their schema."""
    missing = []
    for schema in SCHEMAS:
        for path in schema.files(root):
            first = path.read_text().split("\n", 1)[0]
            if first != schema.modeline(path, root):
                missing.append(str(path.relative_to(root)))
    return missing


def write(root: Path) -> list[str]:
    """Regenerate every schema and make every YAML file's first line name its schema; what changed."""
    changed = []
    for schema in SCHEMAS:
        target = root / schema.path
        text = schema.render(root)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(schema.path)
        for path in schema.files(root):
            content = path.read_text()
            first, _, rest = content.partition("\n")
            line = schema.modeline(path, root)
            if first == line:
                continue
            path.write_text(f"{line}\n{rest if first.startswith(MODELINE) else content}")
            changed.append(str(path.relative_to(root)))
    return changed
