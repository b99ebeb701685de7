"""What goes into a release bundle. Each module here registers one part with @bundle_part.

A part is a function (repository root) -> iterable of (path inside the bundle, bytes). Paths are
POSIX and relative; a part owns one top-level folder of the bundle (its name).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from pathlib import Path

BundleFiles = Iterable[tuple[str, bytes]]
PartBuilder = Callable[[Path], BundleFiles]

_PARTS: dict[str, PartBuilder] = {}


def bundle_part(name: str) -> Callable[[PartBuilder], PartBuilder]:
    def decorate(builder: PartBuilder) -> PartBuilder:
        if name in _PARTS and _PARTS[name] is not builder:
            raise ValueError(f"two release bundle parts are named {name!r}")
        _PARTS[name] = builder
        return builder

    return decorate


def all_parts() -> dict[str, PartBuilder]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(sorted(_PARTS.items()))


def files_under(root: Path, folder: str, *, exclude: tuple[str, ...] = ()) -> BundleFiles:
    """Every file below root/folder (sorted, caches and build output left out), as bundle entries."""
    skip_dirs = {"__pycache__", ".pytest_cache", "target", "dbt_packages", "logs", ".ruff_cache"}
    base = root / folder
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if not path.is_file() or skip_dirs.intersection(rel.parts) or path.suffix == ".pyc":
            continue
        if any(rel.match(pattern) for pattern in exclude):
            continue
        yield rel.as_posix(), path.read_bytes()
