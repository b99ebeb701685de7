"""Fixtures for the ChangeEvidence tests: the fake provider API (started and stopped here) and the fake aws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline_assets.change_evidence.fakes import FakeAws, FakeGitHub


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_aws(tmp_path: Path) -> FakeAws:
    return FakeAws(tmp_path / "aws")
