"""A change that only reshapes code leaves every synthesized template byte-identical.

`template_reference.json` holds, per template of app.py's whole app synthesized from the small test
bundle (tests/stacks/conftest.py: a fixed release id) and without staged packages, two sha256 digests:
of the template's bytes, and of its bytes with every asset hash written as ASSET. The second one stays
equal when only the code inside a Lambda's folder changed (its asset hash moves, nothing else), so a
diff of the reference file tells a reviewer which kind of change a commit made.

A change that means to change templates records the new reference in the same commit:
`make template-reference` (it runs this test with RECORD_TEMPLATE_REFERENCE=1).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).with_name("template_reference.json")
RECORD = os.environ.get("RECORD_TEMPLATE_REFERENCE") == "1"
ASSET_HASH = re.compile(rb"[0-9a-f]{64}")


def asset_hashes(out: Path) -> set[bytes]:
    """Every asset hash the assembly's asset manifests name (file assets: Lambda code, bundles)."""
    found: set[bytes] = set()
    for manifest in out.rglob("*.assets.json"):
        data = json.loads(manifest.read_text())
        for kind in ("files", "dockerImages"):
            found |= {key.encode() for key in data.get(kind, {})}
    return found


def digests(out: Path) -> dict[str, dict[str, str]]:
    assets = asset_hashes(out)

    def without_assets(data: bytes) -> bytes:
        return ASSET_HASH.sub(lambda m: b"ASSET" if m.group(0) in assets else m.group(0), data)

    recorded = {}
    for path in sorted(out.rglob("*.template.json")):
        data = path.read_bytes()
        recorded[path.relative_to(out).as_posix()] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "sha256_without_asset_hashes": hashlib.sha256(without_assets(data)).hexdigest(),
        }
    return recorded


@pytest.fixture(scope="module")
def assembly(tmp_path_factory, release_dir, config, cfn) -> Path:
    """app.py's whole app, synthesized with no staged packages whatever build/packages holds."""
    import app as cdk_app
    from stacks import release_bundle

    patch = pytest.MonkeyPatch()
    patch.setattr(release_bundle, "DEFAULT_RELEASE_DIR", release_dir)
    patch.delenv("PACKAGES_REQUIRED", raising=False)
    try:
        app = cdk_app.build_app(
            config,
            cfn.new_app(tmp_path_factory.mktemp("identity")),
            packages_dir=tmp_path_factory.mktemp("no-packages") / "absent",
        )
        return Path(app.synth().directory)
    finally:
        patch.undo()


@pytest.mark.slow
def test_every_synthesized_template_is_byte_identical_to_the_recorded_reference(assembly):
    found = digests(assembly)
    if RECORD:
        REFERENCE.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"recorded {len(found)} templates into {REFERENCE.relative_to(ROOT)}")
    assert REFERENCE.is_file(), f"{REFERENCE.relative_to(ROOT)} is missing; record it with `make template-reference`"
    reference = json.loads(REFERENCE.read_text())
    assert sorted(found) == sorted(reference), "templates appeared or disappeared"
    without = "sha256_without_asset_hashes"
    changed = {
        name: "only asset hashes" if d[without] == reference[name][without] else "content"
        for name, d in found.items()
        if d != reference[name]
    }
    assert not changed, (
        f"templates differ from {REFERENCE.relative_to(ROOT)}: {changed}. A reshape must not change templates; "
        "a change that means to, records the new reference with `make template-reference` in the same commit"
    )


def test_asset_hashes_are_masked_and_other_hex_is_kept(tmp_path):
    asset = "a" * 64
    other = "b" * 64
    (tmp_path / "S.assets.json").write_text(json.dumps({"files": {asset: {}}}))
    (tmp_path / "S.template.json").write_text(json.dumps({"Key": f"{asset}.zip", "Other": other}))
    first = digests(tmp_path)["S.template.json"]
    (tmp_path / "S.template.json").write_text(json.dumps({"Key": f"{'c' * 64}.zip", "Other": other}))
    (tmp_path / "S.assets.json").write_text(json.dumps({"files": {"c" * 64: {}}}))
    second = digests(tmp_path)["S.template.json"]
    assert first["sha256"] != second["sha256"]
    assert first["sha256_without_asset_hashes"] == second["sha256_without_asset_hashes"]
    (tmp_path / "S.template.json").write_text(json.dumps({"Key": f"{'c' * 64}.zip", "Other": "d" * 64}))
    assert digests(tmp_path)["S.template.json"]["sha256_without_asset_hashes"] != second["sha256_without_asset_hashes"]
