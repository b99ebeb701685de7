import json
from pathlib import Path

import pytest

from cicd.release import bundle
from cicd.release.parts import files_under


def fake_parts(monkeypatch, parts):
    monkeypatch.setattr(bundle, "all_parts", lambda: parts)


def test_same_content_gives_the_same_id_and_bytes(tmp_path, monkeypatch):
    fake_parts(monkeypatch, {"dags": lambda root: [("a.py", b"x"), ("b/c.py", b"y")]})
    first = bundle.build(tmp_path, tmp_path / "out1")
    second = bundle.build(tmp_path, tmp_path / "out2")
    assert first.release_id == second.release_id
    assert (first.directory / "release.json").read_bytes() == (second.directory / "release.json").read_bytes()
    manifest = json.loads((first.directory / "release.json").read_text())
    assert manifest["release_id"] == first.release_id
    assert set(manifest["files"]) == {"dags/a.py", "dags/b/c.py"}
    assert (tmp_path / "out1" / "current").resolve() == first.directory.resolve()


def test_any_content_change_gives_a_new_id(tmp_path, monkeypatch):
    fake_parts(monkeypatch, {"dags": lambda root: [("a.py", b"x")]})
    one = bundle.build(tmp_path, tmp_path / "out").release_id
    fake_parts(monkeypatch, {"dags": lambda root: [("a.py", b"x ")]})
    two = bundle.build(tmp_path, tmp_path / "out").release_id
    fake_parts(monkeypatch, {"dags": lambda root: [("renamed.py", b"x")]})
    three = bundle.build(tmp_path, tmp_path / "out").release_id
    assert len({one, two, three}) == 3


def test_empty_bundle_and_duplicate_paths_are_errors(tmp_path, monkeypatch):
    fake_parts(monkeypatch, {"dags": lambda root: []})
    with pytest.raises(bundle.BundleError, match="empty"):
        bundle.build(tmp_path, tmp_path / "out")
    fake_parts(monkeypatch, {"dags": lambda root: [("a.py", b"1"), ("a.py", b"2")]})
    with pytest.raises(bundle.BundleError, match="twice"):
        bundle.build(tmp_path, tmp_path / "out")


def test_files_under_skips_caches(tmp_path: Path):
    (tmp_path / "dags" / "__pycache__").mkdir(parents=True)
    (tmp_path / "dags" / "__pycache__" / "x.pyc").write_bytes(b"0")
    (tmp_path / "dags" / "d.py").write_text("pass\n")
    assert [p for p, _ in files_under(tmp_path, "dags")] == ["d.py"]
