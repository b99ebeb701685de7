"""Which columns of a model the data-diff report masks, and how: the rules of cicd/dbt/mask.py, below prod.

A column is masked when it is tagged `meta.pii` on the model, when a column of the same name is tagged on any
model or source upstream of it (a pass-through column nobody re-tagged is still the same personal data), or
when mask.py's name rules say so (personal names are tokenised, free text is dropped). The strategy is the tag's
`meta.masking` (default `token`), as in the masked copies staging reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from cicd.dbt.mask import STRATEGIES, rule_strategy


def _declared(node: Mapping[str, Any]) -> dict[str, str | None]:
    """PII columns and their explicit strategy (None: tagged without `masking`)."""
    found: dict[str, str | None] = {}
    for name, column in (node.get("columns") or {}).items():
        meta = dict(column.get("meta") or {})
        meta.update((column.get("config") or {}).get("meta") or {})
        if meta.get("pii") is True:
            strategy = meta.get("masking")
            found[str(column.get("name") or name).lower()] = str(strategy) if strategy in STRATEGIES else None
    return found


def _ancestors(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    parents = manifest.get("parent_map") or {}
    seen: list[str] = []
    queue = deque(parents.get(unique_id) or [])
    while queue:
        uid = queue.popleft()
        if uid in seen:
            continue
        seen.append(uid)
        queue.extend(parents.get(uid) or [])
    return seen


class Masking:
    """Masking strategies of one model's columns, from every manifest that knows the model (base and head)."""

    def __init__(self, manifests: list[Mapping[str, Any]], unique_id: str) -> None:
        explicit: dict[str, str] = {}  # the nearest explicit `masking` found upstream
        tagged: set[str] = set()
        own: dict[str, str | None] = {}
        for manifest in manifests:
            everything = {**(manifest.get("nodes") or {}), **(manifest.get("sources") or {})}
            for ancestor in _ancestors(manifest, unique_id):
                for column, strategy in _declared(everything.get(ancestor) or {}).items():
                    tagged.add(column)
                    if strategy:
                        explicit.setdefault(column, strategy)
            own.update(_declared((manifest.get("nodes") or {}).get(unique_id) or {}))
        # The model's own explicit strategy decides; a bare `pii: true` keeps the strategy the column had upstream.
        self.by_column: dict[str, str] = {c: explicit.get(c, "token") for c in tagged}
        self.by_column.update({c: strategy or explicit.get(c, "token") for c, strategy in own.items()})

    def strategy(self, column: str) -> str | None:
        name = column.lower()
        return self.by_column.get(name) or rule_strategy(name)
