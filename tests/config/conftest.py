"""A writable copy of config/ per test, and a way to change one environment's YAML in it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import CONFIG_DIR


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    target.mkdir()
    for path in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def edit(config_dir: Path, env: str, change: Callable[[dict[str, Any]], Any]) -> None:
    path = config_dir / f"{env}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
