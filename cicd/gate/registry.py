"""Checks register themselves; every module in cicd/gate/checks/ is discovered on first use.

Adding a check is one new module with one decorated class: no list to edit elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil

from cicd.gate.model import Check

_REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two gate checks are named {cls.name!r}: {_REGISTRY[cls.name]} and {cls}")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    import cicd.gate.checks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def all_checks() -> list[Check]:
    _discover()
    return [cls() for _, cls in sorted(_REGISTRY.items())]
