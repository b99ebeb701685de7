"""Which dbt nodes a change can alter the data of: the modified ones and everything downstream of them.

The idea of dbt's `state:modified+`, compared between two manifests parsed with the same target, without its
documented gaps and its noise:

- under-selection: a var used in a model or in a macro it calls, and a seed over 1 MiB (dbt compares only its
  path), change data without dbt noticing. Here a changed var selects every node whose SQL or macros read it,
  and seeds are compared by the sha256 of their files;
- over-selection: descriptions, tags, meta, docs, grants or access, and comment or whitespace edits, change
  no data. Here they select nothing; configuration counts only where it changes what a relation holds.

Macros count through every macro a node calls, transitively (an adapter-dispatched one included), sources
through their database, schema and identifier, and a node that moves to another relation is rebuilt.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BUILDABLE = ("model", "seed", "snapshot")
# Config that changes what a relation holds or how it is built. Anything else (tags, meta, docs, grants,
# persist_docs, access, group, ...) changes no data.
DATA_CONFIG = (
    "enabled",
    "materialized",
    "incremental_strategy",
    "unique_key",
    "on_schema_change",
    "pre-hook",
    "post-hook",
    "sql_header",
    "column_types",
    "delimiter",
    "quote_columns",
    "quoting",
)
_VAR = re.compile(r"""\bvar\(\s*(['"])([^'"]+)\1""")
_DYNAMIC_VAR = re.compile(r"""\bvar\(\s*[^'"\s)]""")


def normalize_sql(text: str) -> str:
    """SQL/Jinja without comments and with whitespace collapsed; string literals are kept exactly."""
    out: list[str] = []
    i, n = 0, len(text)

    def space() -> None:
        if out and out[-1] != " ":
            out.append(" ")

    while i < n:
        two = text[i : i + 2]
        if two in ("{#", "/*"):
            end = text.find("#}" if two == "{#" else "*/", i + 2)
            i = n if end < 0 else end + 2
            space()
        elif two == "--":
            end = text.find("\n", i)
            i = n if end < 0 else end
            space()
        elif text[i].isspace():
            i += 1
            space()
        elif text[i] in "'\"":
            quote, j = text[i], i + 1
            while j < n and text[j] != quote:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out).strip()


@dataclass(frozen=True)
class ProjectSide:
    """One side of the comparison: its parsed manifest and the project folder it was parsed from."""

    manifest: dict[str, Any]
    project_dir: Path

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        return {uid: n for uid, n in (self.manifest.get("nodes") or {}).items() if n.get("resource_type") in BUILDABLE}

    def project_vars(self) -> dict[str, Any]:
        """Vars as the project declares them (global ones, overridden by the project-scoped ones)."""
        path = self.project_dir / "dbt_project.yml"
        document = yaml.safe_load(path.read_text()) if path.exists() else {}
        declared = dict((document or {}).get("vars") or {})
        name = (document or {}).get("name")
        scoped = declared.pop(name, None) if name else None
        merged = {k: v for k, v in declared.items() if not isinstance(v, dict)}
        merged.update(scoped or {})
        return merged

    def file_digest(self, node: dict[str, Any]) -> str:
        path = self.project_dir / str(node.get("original_file_path") or "")
        if path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest()
        return str((node.get("checksum") or {}).get("checksum"))

    def macro_closure(self, node: dict[str, Any]) -> set[str]:
        macros = self.manifest.get("macros") or {}
        seen: set[str] = set()
        queue = deque((node.get("depends_on") or {}).get("macros") or [])
        while queue:
            uid = queue.popleft()
            if uid in seen:
                continue
            seen.add(uid)
            queue.extend(((macros.get(uid) or {}).get("depends_on") or {}).get("macros") or [])
        return seen

    def macro_sql(self, uid: str) -> str | None:
        macro = (self.manifest.get("macros") or {}).get(uid)
        return None if macro is None else normalize_sql(str(macro.get("macro_sql") or ""))

    def source(self, uid: str) -> tuple[Any, ...] | None:
        found = (self.manifest.get("sources") or {}).get(uid)
        if found is None:
            return None
        return (found.get("database"), found.get("schema"), found.get("identifier") or found.get("name"))


@dataclass
class Selection:
    modified: dict[str, list[str]] = field(default_factory=dict)  # unique id -> why
    downstream: dict[str, list[str]] = field(default_factory=dict)  # unique id -> modified nodes it reads
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    exposures: dict[str, list[str]] = field(default_factory=dict)  # exposure name -> selected nodes it reads
    depth: dict[str, int] = field(default_factory=dict)  # hops from the nearest modified node
    order: list[str] = field(default_factory=list)  # parents before children

    @property
    def nodes(self) -> list[str]:
        every = set(self.modified) | set(self.downstream)
        ordered = [uid for uid in self.order if uid in every]
        return ordered + sorted(every - set(ordered), key=lambda uid: (self.depth.get(uid, 0), uid))

    def to_json(self) -> dict[str, Any]:
        return {
            "modified": self.modified,
            "downstream": self.downstream,
            "added": self.added,
            "removed": self.removed,
            "exposures": self.exposures,
            "depth": self.depth,
            "order": self.order,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Selection:
        return cls(
            modified={k: list(v) for k, v in data.get("modified", {}).items()},
            downstream={k: list(v) for k, v in data.get("downstream", {}).items()},
            added=list(data.get("added", [])),
            removed=list(data.get("removed", [])),
            exposures={k: list(v) for k, v in data.get("exposures", {}).items()},
            depth={k: int(v) for k, v in data.get("depth", {}).items()},
            order=list(data.get("order", [])),
        )


def _config(node: dict[str, Any]) -> dict[str, Any]:
    config = node.get("config") or {}
    kept = {key: config.get(key) for key in DATA_CONFIG}
    kept["contract_enforced"] = bool((config.get("contract") or {}).get("enforced"))
    return kept


def _contract_types(node: dict[str, Any]) -> dict[str, str]:
    if not (((node.get("config") or {}).get("contract") or {}).get("enforced")):
        return {}
    return {
        str(name).lower(): " ".join(str(column.get("data_type") or "").lower().split())
        for name, column in (node.get("columns") or {}).items()
    }


def _relation(node: dict[str, Any]) -> tuple[Any, ...]:
    return (node.get("database"), node.get("schema"), node.get("alias") or node.get("name"))


def _changed_vars(base: ProjectSide, head: ProjectSide, pinned: Iterable[str]) -> set[str]:
    old, new = base.project_vars(), head.project_vars()
    # A var given on the command line (`--vars`, the same for both sides) overrides the project's value.
    return {name for name in set(old) | set(new) if old.get(name) != new.get(name)} - set(pinned)


def _reads_var(side: ProjectSide, node: dict[str, Any], names: set[str]) -> list[str]:
    texts = [str(node.get("raw_code") or "")]
    texts += [
        str((side.manifest.get("macros") or {}).get(m, {}).get("macro_sql") or "") for m in side.macro_closure(node)
    ]
    used = {match.group(2) for text in texts for match in _VAR.finditer(text)}
    hits = sorted(used & names)
    if not hits and names and any(_DYNAMIC_VAR.search(text) for text in texts):
        hits = ["(a var named at run time)"]
    return hits


def modification_reasons(uid: str, base: ProjectSide, head: ProjectSide, changed_vars: set[str]) -> list[str]:
    """Why a node present on both sides may hold other data now; empty when nothing that matters changed."""
    old, new = base.nodes[uid], head.nodes[uid]
    reasons: list[str] = []
    if old.get("resource_type") == "seed":
        if base.file_digest(old) != head.file_digest(new):
            reasons.append("seed file changed")
    elif normalize_sql(str(old.get("raw_code") or "")) != normalize_sql(str(new.get("raw_code") or "")):
        reasons.append("SQL changed")
    old_config, new_config = _config(old), _config(new)
    for key in sorted(k for k in old_config if old_config[k] != new_config[k]):
        reasons.append(f"config {key}: {old_config[key]!r} -> {new_config[key]!r}")
    if _contract_types(old) != _contract_types(new):
        reasons.append("contract column types changed")
    if _relation(old) != _relation(new):
        reasons.append(f"relation moved: {'.'.join(map(str, _relation(old)))} -> {'.'.join(map(str, _relation(new)))}")
    old_macros, new_macros = base.macro_closure(old), head.macro_closure(new)
    for macro in sorted(old_macros | new_macros):
        if macro not in old_macros or macro not in new_macros or base.macro_sql(macro) != head.macro_sql(macro):
            reasons.append(f"macro {macro.split('.')[-1]} changed")
    sources = [s for s in (new.get("depends_on") or {}).get("nodes") or [] if s.startswith("source.")]
    sources += [s for s in (old.get("depends_on") or {}).get("nodes") or [] if s.startswith("source.")]
    for source in sorted(set(sources)):
        if base.source(source) != head.source(source):
            reasons.append(f"source {source.split('.', 2)[-1]} moved")
    if changed_vars:
        used = _reads_var(base, old, changed_vars) + _reads_var(head, new, changed_vars)
        reasons += [f"var {name} changed" for name in sorted(set(used))]
    return reasons


def _children(manifests: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    children: dict[str, set[str]] = {}
    for manifest in manifests:
        for parent, kids in (manifest.get("child_map") or {}).items():
            children.setdefault(parent, set()).update(kids)
    return children


def _names(manifests: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for manifest in manifests:
        for uid, node in (manifest.get("nodes") or {}).items():
            names[uid] = (str(node.get("resource_type")), str(node.get("name")))
        for uid, exposure in (manifest.get("exposures") or {}).items():
            names[uid] = ("exposure", str(exposure.get("name")))
    return names


def select(base: ProjectSide, head: ProjectSide, *, pinned_vars: Iterable[str] = ()) -> Selection:
    """Modified, added and removed nodes, and every model downstream of one (across both graphs).

    `pinned_vars`: vars both builds get on the command line, so a change of their project default changes nothing.
    """
    old, new = base.nodes, head.nodes
    changed_vars = _changed_vars(base, head, pinned_vars)
    selection = Selection()
    for uid in sorted(set(old) & set(new)):
        reasons = modification_reasons(uid, base, head, changed_vars)
        if reasons:
            selection.modified[uid] = reasons
    for uid in sorted(set(new) - set(old)):
        selection.added.append(uid)
        selection.modified[uid] = ["new node"]
    for uid in sorted(set(old) - set(new)):
        selection.removed.append(uid)
        selection.modified[uid] = ["removed"]
    children = _children([base.manifest, head.manifest])
    names = _names([base.manifest, head.manifest])
    selection.depth = dict.fromkeys(selection.modified, 0)
    for origin in selection.modified:
        queue = deque([(origin, 0)])
        seen = {origin}
        while queue:
            uid, hops = queue.popleft()
            for child in sorted(children.get(uid, ())):
                if child in seen:
                    continue
                seen.add(child)
                kind, name = names.get(child, ("", child))
                if kind == "exposure":
                    selection.exposures.setdefault(name, [])
                    if origin not in selection.exposures[name]:
                        selection.exposures[name].append(origin)
                    continue
                if kind not in BUILDABLE:
                    continue
                queue.append((child, hops + 1))
                if child in selection.modified:
                    continue
                selection.downstream.setdefault(child, [])
                if origin not in selection.downstream[child]:
                    selection.downstream[child].append(origin)
                selection.depth[child] = min(selection.depth.get(child, hops + 1), hops + 1)
    for name in selection.exposures:
        selection.exposures[name].sort()
    for uid in selection.downstream:
        selection.downstream[uid].sort()
    selection.order = _topological(set(selection.modified) | set(selection.downstream), children)
    return selection


def _topological(chosen: set[str], children: dict[str, set[str]]) -> list[str]:
    """Parents before children (by name among equals), so a report reads in the direction data flows."""
    parents = {uid: {p for p in chosen if uid in children.get(p, set())} for uid in chosen}
    order: list[str] = []
    ready = sorted(uid for uid, ps in parents.items() if not ps)
    while ready:
        uid = ready.pop(0)
        order.append(uid)
        for child in sorted(children.get(uid, set()) & chosen):
            parents[child].discard(uid)
            if not parents[child] and child not in order and child not in ready:
                ready.append(child)
        ready.sort(key=lambda u: u.split(".")[-1])
    return order + sorted(chosen - set(order))  # a cycle cannot happen in dbt; keep every node anyway


def everything(side: ProjectSide) -> Selection:
    """Every buildable node as modified: the whole project diffed (a benchmark, or a full reference)."""
    nodes = set(side.nodes)
    order = _topological(nodes, _children([side.manifest]))
    return Selection(modified={uid: ["whole project"] for uid in order}, depth=dict.fromkeys(order, 0), order=order)
