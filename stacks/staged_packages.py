"""The packages `make packages` staged for the private subnets: the Spark jars and MWAA's plugins.zip.

Synth on a laptop or in the gate has no Maven access, so the staged directory may be absent there:
the uploads are then left out (the gate's offline-packages check warns). The delivery pipeline's
build sets `packages:required`, and there an absent or incomplete directory stops synth, because an
environment without its jars and wheels cannot start its Spark jobs or install its providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cicd.packages.locks import JAR_LOCK, load_jars
from cicd.packages.staging import StagingError, verify_staged_jars

DEFAULT_PACKAGES_DIR = Path(__file__).resolve().parents[1] / "build" / "packages"
ROOT = DEFAULT_PACKAGES_DIR.parents[1]
STAGE_COMMAND = "make packages"


class StagedPackagesError(Exception):
    """The staged packages are required but missing, or present but not what the locks say."""


@dataclass(frozen=True)
class StagedPackages:
    jar_dir: Path
    plugins_zip: Path

    @classmethod
    def locate(cls, directory: Path, *, required: bool, root: Path = ROOT) -> StagedPackages | None:
        """The verified staged packages; None when they are absent and not required."""
        if not directory.is_dir():
            if not required:
                return None
            raise StagedPackagesError(
                f"{directory} does not exist and packages:required is set: the environments would deploy "
                f"without their Spark jars and MWAA wheels. Stage them first with `{STAGE_COMMAND}` (network)."
            )
        # Present means complete: a half-staged directory is an error whether required or not.
        packages = cls(jar_dir=directory / "jars", plugins_zip=directory / "plugins.zip")
        if not packages.plugins_zip.is_file():
            raise StagedPackagesError(f"{packages.plugins_zip} is missing; run `{STAGE_COMMAND}` again.")
        try:
            verify_staged_jars(root, packages.jar_dir)
        except StagingError as exc:
            raise StagedPackagesError(f"{exc} (or `{STAGE_COMMAND}`)") from exc
        locked = {jar.file for jar in load_jars(root)}
        extra = sorted(path.name for path in packages.jar_dir.iterdir() if path.name not in locked)
        if extra:
            # Everything in the directory is uploaded: only locked, hash-checked jars may be in it.
            raise StagedPackagesError(
                f"{packages.jar_dir} holds files {JAR_LOCK} does not lock: {extra}; delete them and run "
                f"`{STAGE_COMMAND}` again."
            )
        return packages


def parse_required(value: object) -> bool:
    """The `packages:required` flag as given in cdk.json (a boolean) or with `-c` / the environment (text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else "false"
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise StagedPackagesError(
        f"packages:required is {value!r}; set it to true or false (`-c packages:required=true`, "
        "PACKAGES_REQUIRED=true, or cdk.json's context)."
    )
