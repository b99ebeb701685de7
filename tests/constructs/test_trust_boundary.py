"""The trust-boundary path hint; the ChangeEvidence step applies it with real git (tests/pipeline_assets/
change_evidence). The deployed templates decide (tests/pipeline_assets/trust_boundary_check); the list only
adds to them.
"""

from __future__ import annotations

import pytest
from constructs import trust_boundary


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("pipeline_assets/approval_guard/policy.py", True),
        ("pipeline_assets/__init__.py", True),  # packed into the guard's bundle (issue 17 #1)
        ("pipeline_assets/change_evidence/collect.py", True),
        ("pipeline_assets/ledger/store.py", True),
        ("constructs/evidence_functions.py", True),
        ("constructs/approver_access.py", True),
        ("stacks/delivery_pipeline_stack.py", True),
        ("stacks/delivery_audit_stack.py", True),
        ("constructs/trust_boundary.py", True),  # the classifier cannot exempt itself
        ("config/prod.yaml", True),  # approvers, break-glass and identity aliases live here
        ("config/model.py", True),
        ("dags/crm_accounts.py", False),
        ("stacks/delivery_pipeline_stack_notes.md", False),  # a file, not a prefix
        ("pipeline_assets/approval_guard_docs/x.md", False),
    ],
)
def test_paths_inside_and_outside_the_boundary(path, inside):
    assert trust_boundary.in_boundary(path) is inside


def test_boundary_changes_lists_only_the_paths_inside_sorted():
    changes = ["dags/a.py", "pipeline_assets/ledger/layout.py", "app.py", "dags/a.py"]
    assert trust_boundary.boundary_changes(changes) == ["app.py", "pipeline_assets/ledger/layout.py"]
