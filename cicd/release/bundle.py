"""Build the release bundle: the same bytes go to dev, staging and prod.

The release id is a hash of the bundle's content only (paths and bytes), so rebuilding an
unchanged repository gives the same id, and two different contents never share one. The git
sha and commit time are recorded beside it; the build time is the commit time so that a
rebuild, and the CDK synth that packages it, stay byte-for-byte deterministic.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cicd.release.parts import all_parts
from platform_vocabulary.git import git_output

MANIFEST = "release.json"


@dataclass(frozen=True)
class Release:
    release_id: str
    directory: Path
    file_count: int
    size_bytes: int


class BundleError(Exception):
    pass


def collect(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, builder in all_parts().items():
        for rel, data in builder(root):
            key = f"{name}/{rel}"
            if key in files:
                raise BundleError(f"release part {name!r} produced {key} twice")
            files[key] = data
    if not files:
        raise BundleError("the release bundle is empty: no part produced any file")
    return files


def content_hash(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def build(root: Path, out_dir: Path) -> Release:
    """Write the bundle to out_dir/<release_id>/ and point out_dir/current at it."""
    files = collect(root)
    digest = content_hash(files)
    release_id = f"r-{digest[:16]}"
    manifest = {
        "release_id": release_id,
        "content_sha256": digest,
        "git_sha": git_output(root, "rev-parse", "HEAD"),
        # The approval guard compares the approver with this author (separation of duties).
        "git_author_email": git_output(root, "log", "-1", "--format=%ae"),
        "git_dirty": bool(git_output(root, "status", "--porcelain", "--untracked-files=no")),
        "build_time": git_output(root, "log", "-1", "--format=%cI"),
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    target = out_dir / release_id
    staging = out_dir / f".{release_id}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    for rel, data in files.items():
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    current = out_dir / "current"
    if current.is_symlink() or current.exists():
        current.unlink()
    current.symlink_to(release_id)
    return Release(release_id, target, len(files) + 1, sum(len(d) for d in files.values()))
