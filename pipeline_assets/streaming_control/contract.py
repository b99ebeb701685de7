"""Is a new version of a streaming query allowed to resume from the old version's checkpoint?

Spark restores a query from its checkpoint only when the parts recorded there are unchanged:
the sources (their offsets are kept per topic-partition) and every stateful operator with its
state key and value schema. Each job declares that shape in query.json; the release ships it,
and a restart on the same checkpoint is refused when the shapes differ. The watermark delay and
the sink may change (they are not part of the stored state).
"""

from __future__ import annotations

from typing import Any


def _topics(contract: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [(s.get("format", "?"), tuple(sorted(s.get("topics", [])))) for s in contract.get("sources", [])]


def _operators(contract: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "operator": op.get("operator"),
            "keys": [(k["name"], k["type"]) for k in op.get("keys", [])],
            "values": [(v["name"], v["type"]) for v in op.get("values", [])],
            "watermark_column": (op.get("watermark") or {}).get("column"),
        }
        for op in contract.get("stateful_operators", [])
    ]


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why `new` cannot resume from a checkpoint `old` wrote; empty when it can."""
    problems = []
    if old.get("job_id") != new.get("job_id"):
        problems.append(f"job_id changed from {old.get('job_id')} to {new.get('job_id')}")
    if _topics(old) != _topics(new):
        problems.append(f"sources changed from {_topics(old)} to {_topics(new)} (offsets are stored per topic)")
    if old.get("state_schema_version") != new.get("state_schema_version"):
        problems.append(
            f"state_schema_version changed from {old.get('state_schema_version')} to {new.get('state_schema_version')}"
        )
    old_ops, new_ops = _operators(old), _operators(new)
    if len(old_ops) != len(new_ops):
        problems.append(f"{len(old_ops)} stateful operator(s) became {len(new_ops)}")
    for index, (before, after) in enumerate(zip(old_ops, new_ops, strict=False)):  # lengths compared above
        for part in ("operator", "keys", "values", "watermark_column"):
            if before[part] != after[part]:
                problems.append(f"stateful operator {index} {part} changed from {before[part]} to {after[part]}")
    return problems
