"""The Python packages a DAG file may import while MWAA parses it: MWAA's requirements, nothing of the gate's.

The DAG probe runs on the gate's own interpreter, whose environment holds far more than MWAA's workers do:
pyspark, dbt, the CDK, pytest, and (through an editable install's `.pth` file) this repository itself. A
DAG file importing any of them would parse here and fail on MWAA with ModuleNotFoundError. So the probe
starts without `site` (no `.pth` file runs, so the checkout never joins sys.path) and gets, as its only
package folder, a view of the environment's site-packages that holds just the distributions
`pipeline_assets/mwaa/wheelhouse.lock` lists (the closure MWAA installs, docs/packages.md): their packages
and their metadata, so `importlib.metadata` (which Airflow asks before an optional import) agrees.

The lock pins the same versions as the gate's environment (the offline-packages check fails when they
disagree), so the view is MWAA's set at MWAA's versions, without a second environment to install.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from platform_vocabulary.findings import ToolError

MWAA_LOCK = "pipeline_assets/mwaa/wheelhouse.lock"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (`Typing_Extensions` and `typing-extensions` are one)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def mwaa_distributions(root: Path) -> frozenset[str]:
    """The normalised names of the distributions MWAA's workers have: every pin of the wheelhouse lock."""
    try:
        text = (root / MWAA_LOCK).read_text()
    except OSError as exc:
        raise ToolError(
            f"{MWAA_LOCK}: cannot read it ({exc.strerror}); it says which packages MWAA's workers have, so the "
            "DAG check cannot tell what a DAG file may import: restore it, or write it with `make mwaa-lock`"
        ) from exc
    names = frozenset(normalise(match.group("name")) for match in _PIN.finditer(text))
    if not names:
        raise ToolError(f"{MWAA_LOCK} pins no package (`name==version` lines); rewrite it with `make mwaa-lock`")
    return names


def site_packages() -> Path:
    """The gate environment's package folder (pure and platform packages share it in a virtual environment)."""
    return Path(sysconfig.get_paths()["purelib"])


def _installed_files(site: Path) -> dict[str, list[PurePosixPath]]:
    """Each installed distribution (normalised name) and the files it installed under `site` (its RECORD)."""
    files: dict[str, list[PurePosixPath]] = {}
    for distribution in importlib.metadata.distributions(path=[str(site)]):
        name = normalise(distribution.metadata["Name"] or "")
        paths = [PurePosixPath(str(f)) for f in distribution.files or ()]
        files[name] = [p for p in paths if p.parts and p.parts[0] != ".." and p.suffix != ".pth"]
    return files


def build_view(site: Path, allowed: frozenset[str], into: Path) -> list[str]:
    """Write into `into` a site-packages holding only the allowed distributions, as symlinks into `site`.

    A top-level folder only allowed distributions install into is linked whole; one shared with a
    distribution MWAA lacks (a namespace package) is rebuilt from links to the allowed files alone.
    Returns the top-level modules left out: what a DAG file cannot import on MWAA although the gate has it.
    """
    owners: dict[str, set[str]] = defaultdict(set)
    files = _installed_files(site)
    for name, paths in files.items():
        for path in paths:
            owners[path.parts[0]].add(name)
    into.mkdir(parents=True, exist_ok=True)
    for top, names in sorted(owners.items()):
        if not names & allowed:
            continue
        if names <= allowed:
            (into / top).symlink_to(site / top)
            continue
        for name in sorted(names & allowed):
            for path in files[name]:
                if path.parts[0] == top and (site / path).is_file():
                    target = into / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if not target.exists():
                        target.symlink_to(site / path)
    return sorted(_module_name(top) for top, names in owners.items() if not names & allowed and _is_module(top))


def _is_module(top: str) -> bool:
    metadata = top.endswith((".dist-info", ".egg-info", ".data")) or top == "__pycache__"
    return not metadata and _module_name(top).isidentifier()


def _module_name(top: str) -> str:
    return top.split(".", 1)[0] if top.endswith((".py", ".so", ".pyd")) else top


def modules_outside(shipped: Iterable[str], left_out: Iterable[str]) -> list[str]:
    """The modules left out of the view, less the DAG folder's own names and the standard library's."""
    keep = set(shipped) | set(sys.stdlib_module_names)
    return sorted(set(left_out) - keep)


def top_level_names(folder: Path) -> set[str]:
    """The importable names a DAG folder defines at its top: its packages and modules."""
    return {entry.stem if entry.suffix == ".py" else entry.name for entry in folder.iterdir()}
