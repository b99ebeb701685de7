"""The release bundle the release lane deploys: a directory built once by the release build."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

BUILD_COMMAND = (
    '.venv/bin/python -c "from pathlib import Path; from cicd.release.bundle import build; '
    "print(build(Path('.'), Path('build/release')))\""
)
DEFAULT_RELEASE_DIR = Path(__file__).resolve().parents[1] / "build" / "release" / "current"
RELEASE_ID = re.compile(r"^r-[0-9a-f]{16}$")


class ReleaseBundleError(Exception):
    """The bundle is missing or malformed; synth stops with this message."""


@dataclass(frozen=True)
class ReleaseBundle:
    directory: Path
    release_id: str
    git_sha: str | None
    dag_files: int

    @classmethod
    def load(cls, release_dir: Path) -> ReleaseBundle:
        manifest_path = release_dir / "release.json"
        if not manifest_path.is_file():
            raise ReleaseBundleError(
                f"no release bundle at {release_dir} ({manifest_path.name} not found). "
                f"Build it first with: {BUILD_COMMAND}"
            )
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise ReleaseBundleError(
                f"{manifest_path} is not valid JSON ({exc}); rebuild it with: {BUILD_COMMAND}"
            ) from exc
        release_id = manifest.get("release_id") if isinstance(manifest, dict) else None
        if not isinstance(release_id, str) or not RELEASE_ID.match(release_id):
            raise ReleaseBundleError(
                f"{manifest_path}: release_id {release_id!r} is not a release id like 'r-0123456789abcdef'; "
                f"rebuild it with: {BUILD_COMMAND}"
            )
        files = manifest.get("files") or {}
        missing = sorted(path for path in files if not (release_dir / path).is_file())
        if missing:
            raise ReleaseBundleError(
                f"{release_dir} is incomplete: {len(missing)} file(s) of release.json are missing "
                f"(e.g. {missing[:3]}); rebuild it with: {BUILD_COMMAND}"
            )
        dag_files = sum(1 for path in files if path.startswith("dags/"))
        if dag_files == 0:
            raise ReleaseBundleError(f"{manifest_path} lists no dags/ files: activating it would empty the DAG folder")
        return cls(release_dir.resolve(), release_id, manifest.get("git_sha"), dag_files)
