"""Load and validate the YAML files, with errors that name the file, the field and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.model import (
    ENVIRONMENT_ORDER,
    DeliveryConfig,
    EnvironmentConfig,
    PlatformConfig,
    shared_identity_problems,
)
from pipeline_assets import yaml_source

CONFIG_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CONFIG_DIR.parent))
    except ValueError:
        return str(path)


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping in the file, and the line of each top-level and nested key (for messages)."""
    name = _relative(path)
    try:
        document = yaml_source.load(path, name)
    except yaml_source.YamlSourceError as exc:
        raise ConfigError([ConfigProblem(name, "-", exc.message, exc.line)]) from exc
    if not isinstance(document.data, dict):
        raise ConfigError([ConfigProblem(name, "-", "must be a mapping of settings")])
    return document.data, document.key_lines()


def _problems(error: ValidationError, file: str, lines: dict[str, int]) -> list[ConfigProblem]:
    problems = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"]) or "-"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] not in ("missing", "model_type") and "input" in item and not isinstance(item["input"], dict):
            message += f" (got {item['input']!r})"
        if item["type"] == "missing":
            message = "required setting is missing"
        elif item["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling against config/model.py)"
        line = lines.get(loc)
        if line is None and loc == "-":
            # model-level rules say which field they are about as "field.path: message"
            field, _, rest = message.partition(": ")
            if rest and " " not in field:
                loc, message, line = field, rest, lines.get(field)
        problems.append(ConfigProblem(file, loc, message, line))
    return problems


def load_environment(name: str, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    path = config_dir / f"{name}.yaml"
    data, lines = _read_yaml(path)
    file = _relative(path)
    if data.get("name", name) != name:
        raise ConfigError(
            [ConfigProblem(file, "name", f"is {data['name']!r} but the file is {name}.yaml", lines.get("name"))]
        )
    try:
        return EnvironmentConfig.model_validate({"name": name, **data})
    except ValidationError as exc:
        raise ConfigError(_problems(exc, file, lines)) from exc


def load_delivery(config_dir: Path = CONFIG_DIR) -> DeliveryConfig:
    path = config_dir / "delivery.yaml"
    data, lines = _read_yaml(path)
    try:
        return DeliveryConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, _relative(path), lines)) from exc


def load_all(config_dir: Path = CONFIG_DIR) -> PlatformConfig:
    """Every file, every problem at once: a fix-one-rerun loop is slow for the person fixing it."""
    problems: list[ConfigProblem] = []
    environments: list[EnvironmentConfig] = []
    delivery: DeliveryConfig | None = None
    try:
        delivery = load_delivery(config_dir)
    except ConfigError as exc:
        problems += exc.problems
    for name in ENVIRONMENT_ORDER:
        try:
            environments.append(load_environment(name, config_dir))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    by_name = {env.name: env for env in environments}
    for lower in ("dev", "staging"):
        if by_name[lower].account == by_name["prod"].account:
            problems.append(
                ConfigProblem(
                    _relative(config_dir / f"{lower}.yaml"),
                    "account",
                    f"equals prod's account {by_name['prod'].account} (config/prod.yaml); lower environments "
                    "live in their own accounts so they can never read production data",
                )
            )
    for env_name, problem in shared_identity_problems(environments):
        problems.append(ConfigProblem(_relative(config_dir / f"{env_name}.yaml"), "approval.identity_aliases", problem))
    if problems:
        raise ConfigError(problems)
    assert delivery is not None
    return PlatformConfig(delivery=delivery, environments=tuple(environments))
