"""Release history of one environment: which release was active when, from the records that decide it.

The active-release SSM parameter is written by the release activator after every successful
activation (and only then), so its version history *is* the activation history: SSM keeps the last
100 versions, about three weeks at 35 releases a week. The release bucket says which releases
exist at all (`releases/<id>/release.json`, never pruned by a release) and when each was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class HistoryError(Exception):
    """The history cannot be read; the message says what is missing and where."""


@dataclass(frozen=True)
class Activation:
    release_id: str
    activated_at: datetime
    version: int
    # True when this release had been active before: activating it again was a rollback.
    reactivation: bool = False


@dataclass(frozen=True)
class ReleaseInfo:
    release_id: str
    git_sha: str | None
    build_time: str | None


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def activations(ssm: Any, parameter: str) -> list[Activation]:
    """Every recorded activation, oldest first."""
    raw: list[tuple[int, str, datetime]] = []
    try:
        for page in ssm.get_paginator("get_parameter_history").paginate(Name=parameter):
            for item in page.get("Parameters", []):
                modified = item["LastModifiedDate"]
                at = modified.astimezone(UTC) if modified.tzinfo else modified.replace(tzinfo=UTC)
                raw.append((int(item["Version"]), str(item["Value"]).strip(), at))
    except Exception as exc:
        if _error_code(exc) == "ParameterNotFound" or type(exc).__name__ == "ParameterNotFound":
            raise HistoryError(
                f"SSM parameter {parameter} does not exist: no release was ever activated in this environment"
            ) from exc
        raise
    if not raw:
        raise HistoryError(f"SSM parameter {parameter} has no versions: no release was ever activated")
    seen: set[str] = set()
    result = []
    for version, release_id, at in sorted(raw):
        result.append(Activation(release_id, at, version, reactivation=release_id in seen))
        seen.add(release_id)
    return result


def release_info(s3: Any, bucket: str, release_id: str) -> ReleaseInfo | None:
    """What release.json says about a release; None when the release was never uploaded."""
    import json

    try:
        body = s3.get_object(Bucket=bucket, Key=f"releases/{release_id}/release.json")["Body"].read()
    except Exception as exc:
        if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    data = json.loads(body)
    if data.get("release_id") != release_id:
        where = f"s3://{bucket}/releases/{release_id}/release.json"
        raise HistoryError(f"{where} names {data.get('release_id')!r}: the prefix holds another bundle")
    return ReleaseInfo(release_id, data.get("git_sha"), data.get("build_time"))


def previous_distinct(history: list[Activation]) -> str | None:
    """The release that was active just before the current one (skipping repeats of the current)."""
    current = history[-1].release_id
    for activation in reversed(history[:-1]):
        if activation.release_id != current:
            return activation.release_id
    return None
