from pathlib import Path

from cicd.release.parts import BundleFiles, bundle_part


@bundle_part("dataservices")
def dataservices(root: Path) -> BundleFiles:
    """Per data service: service.json (export spec), metadata.json (da_version 2.0), glossary, contract.

    Built from the compiled dbt manifest. A service whose contract is broken never enters a release;
    a repository without a dbt project simply has no data services.
    """
    from cicd.dataservices.build import build, bundle_files
    from cicd.dataservices.manifest import DBT_DIR, load, locate_or_compile
    from cicd.gate.model import ToolError
    from cicd.release.bundle import BundleError

    if not (root / DBT_DIR / "dbt_project.yml").exists():
        return []
    try:
        result = build(load(locate_or_compile(root)), root)
    except ToolError as exc:
        raise BundleError(f"data services: {exc}") from exc
    if result.errors:
        listed = "\n".join(f"  {f.render()}" for f in result.errors[:20])
        raise BundleError(f"data-service contracts are broken ({len(result.errors)} errors):\n{listed}")
    return sorted(bundle_files(result.bundles).items())
