"""`python -m cicd validate --only` takes the check names however people write them."""

from __future__ import annotations

import pytest

from cicd import cli


@pytest.mark.parametrize(
    "argv",
    [
        ["--only", "python-lint", "type-check"],
        ["--only", "python-lint,type-check"],
        ["--only", "python-lint", "--only", "type-check"],
    ],
    ids=["spaces", "commas", "repeated"],
)
def test_only_accepts_spaces_commas_and_repeats(argv):
    args = cli.build_parser().parse_args(["validate", *argv])
    assert [name for names in args.only for name in names] == ["python-lint", "type-check"]
