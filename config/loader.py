"""Load and validate the YAML files, with errors that name the file, the line, the field, the rule and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.model import (
    ENVIRONMENT_ORDER,
    DeliveryConfig,
    EnvironmentConfig,
    PlatformConfig,
    shared_identity_problems,
)
from platform_vocabulary import yaml_source
from platform_vocabulary.yaml_source import validation

CONFIG_DIR = Path(__file__).resolve().parent
RULES_AT = "config/model.py"

# One shape for config and pipeline-spec problems (platform_vocabulary/yaml_source/validation.py).
ConfigProblem = validation.Problem


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CONFIG_DIR.parent))
    except ValueError:
        return str(path)


def _read_yaml(path: Path) -> yaml_source.YamlDocument:
    """The file's document, refused unless it is one mapping of settings."""
    name = _relative(path)
    try:
        document = yaml_source.load(path, name)
    except yaml_source.YamlSourceError as exc:
        raise ConfigError([validation.from_source_error(exc)]) from exc
    if not isinstance(document.data, dict):
        raise ConfigError([validation.not_a_mapping(name, "settings")])
    return document


def _validated(model: type[BaseModel], data: dict[str, Any], document: yaml_source.YamlDocument) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation.problems_from(exc, document, model, rules_at=RULES_AT, noun="setting")) from exc


def load_environment(name: str, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    path = config_dir / f"{name}.yaml"
    document = _read_yaml(path)
    data = document.data
    if data.get("name", name) != name:
        line = document.key_lines().get("name")
        message = f"is {data['name']!r} but the file is {name}.yaml"
        fix = f"set `name: {name}` or leave it out (the file name is the environment's name)"
        raise ConfigError([ConfigProblem(document.file, "name", message, line, rule="name-mismatch", fix=fix)])
    result: EnvironmentConfig = _validated(EnvironmentConfig, {"name": name, **data}, document)
    return result


def load_delivery(config_dir: Path = CONFIG_DIR) -> DeliveryConfig:
    document = _read_yaml(config_dir / "delivery.yaml")
    result: DeliveryConfig = _validated(DeliveryConfig, document.data, document)
    return result


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
                    rule="shares-prod-account",
                    fix=f"give {lower} its own AWS account id",
                )
            )
    for env_name, problem in shared_identity_problems(environments):
        problems.append(
            ConfigProblem(
                _relative(config_dir / f"{env_name}.yaml"),
                "approval.identity_aliases",
                problem,
                rule="identity-alias-conflict",
                fix="map each identity name to one person in every environment",
            )
        )
    if problems:
        raise ConfigError(problems)
    assert delivery is not None
    return PlatformConfig(delivery=delivery, environments=tuple(environments))
