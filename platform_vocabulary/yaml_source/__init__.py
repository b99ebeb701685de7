"""YAML as every loader in the repository reads it: safe, line numbers for messages, no anchors,
no duplicate keys.

Config files, pipeline specs, DAG policy and acknowledgement files all come through `load`, so
each of them names `file:line` in its errors and refuses anchors and aliases (`&name`, `*name`).
Aliases let a few hundred bytes expand into billions of nodes ("billion laughs"); none of our
files needs them, so they are rejected while scanning, before anything is built. A key written
twice in one mapping is refused too: PyYAML would keep the last value and say nothing, so
`retries: 5` above `retries: 2` would silently lose.

The pipeline specs are parsed on MWAA, where only the DAG folder exists: the release ships this
package inside it (cicd/release/parts/dags.py), so it needs PyYAML and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# DAG files parse their spec on every scheduler loop: libyaml's loader is several times faster.
Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ALIAS_FIX = "write the value out in full (anchors and aliases can expand a small file without bound)"


class YamlSourceError(ValueError):
    """A file that is not YAML we accept; `str()` is `file:line: message`.

    `rule` says which kind: yaml-syntax, yaml-anchor, duplicate-key, file-not-found, unreadable-file.
    """

    def __init__(
        self, file: str, message: str, line: int | None = None, *, rule: str = "yaml-syntax", fix: str | None = None
    ):
        self.file, self.message, self.line, self.rule, self.fix = file, message, line, rule, fix
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}" + (f": {fix}" if fix else ""))


@dataclass(frozen=True)
class YamlDocument:
    file: str
    data: Any
    node: yaml.Node | None = field(repr=False)

    def key_lines(self) -> dict[str, int]:
        """Line of every mapping key, by dotted path ("spark.size")."""
        return key_lines(self.node)

    def item_lines(self, key: str) -> list[int]:
        """Line of each item of the top-level sequence under `key` (the file's own line numbers)."""
        if isinstance(self.node, yaml.MappingNode):
            for key_node, value in self.node.value:
                if key_node.value == key and isinstance(value, yaml.SequenceNode):
                    return [item.start_mark.line + 1 for item in value.value]
        return []


def key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            dotted = f"{prefix}{key.value}"
            lines[dotted] = key.start_mark.line + 1
            lines.update(key_lines(value, dotted + "."))
    return lines


def _reject_anchors(text: str, file: str) -> None:
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            name = getattr(event, "anchor", None) or "?"
            kind = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
            line = event.start_mark.line + 1
            raise YamlSourceError(file, f"YAML {kind}{name} is not allowed", line, rule="yaml-anchor", fix=ALIAS_FIX)


def _reject_duplicate_keys(node: yaml.Node | None, file: str) -> None:
    """Refuse the first key (in file order) that its mapping already has."""
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                earlier = first_seen.setdefault((key.tag, key.value), line)
                if earlier != line:
                    raise YamlSourceError(
                        file,
                        f"duplicate key `{key.value}` (also on line {earlier}); YAML would silently keep only the last",
                        line,
                        rule="duplicate-key",
                        fix=f"keep one `{key.value}:` in this mapping and delete the other",
                    )
            _reject_duplicate_keys(value, file)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, file)


def parse(text: str, file: str) -> YamlDocument:
    """The document in `text` (None when empty) and its node tree; errors name `file` and the line."""
    try:
        _reject_anchors(text, file)
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            _reject_duplicate_keys(node, file)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = str(exc).replace('"<unicode string>"', file)  # PyYAML names the string it was given, not the file
        raise YamlSourceError(file, f"not valid YAML: {detail}", mark.line + 1 if mark else None) from exc
    return YamlDocument(file, data, node)


def load(path: str | Path, file: str | None = None) -> YamlDocument:
    """Read and parse `path`; `file` is the name messages use (default: the path as given)."""
    name = file or str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise YamlSourceError(name, "file not found", rule="file-not-found") from exc
    except OSError as exc:
        raise YamlSourceError(name, f"cannot read the file: {exc.strerror}", rule="unreadable-file") from exc
    return parse(text, name)
