from pathlib import Path

from cicd.release.parts import BundleFiles, bundle_part


@bundle_part("dataservices")
def dataservices(root: Path) -> BundleFiles:
    """Per data service: service.json (export spec), metadata.json (da_version 2.0), glossary, contract.

    Built from the dbt manifest the dbt part compiles. A service whose contract is broken never enters a release;
    a repository without a dbt project simply has no data services.
    """
    from cicd.dataservices.build import build, bundle_files
    from cicd.dataservices.manifest import DBT_DIR, SHARED_MANIFEST, is_fresh, load, newest_source
    from cicd.release.bundle import BundleError
    from cicd.release.parts.dbt import compiled_manifest

    if not (root / DBT_DIR / "dbt_project.yml").exists():
        return []
    # The same manifest the dbt part ships as dbt/target/manifest.json (this part runs first, so it
    # compiles it when the last one is older than the project; the dbt part then writes the same bytes).
    if not is_fresh(root / SHARED_MANIFEST, newest_source(root / DBT_DIR)):
        compiled_manifest(root)
    result = build(load(root / SHARED_MANIFEST), root)
    if result.errors:
        listed = "\n".join(f"  {f.render()}" for f in result.errors[:20])
        raise BundleError(f"data-service contracts are broken ({len(result.errors)} errors):\n{listed}")
    return sorted(bundle_files(result.bundles).items())
