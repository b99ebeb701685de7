"""The separation-of-duties decision and identity matching, as plain functions."""

import pytest

from pipeline_assets.approval_guard.identity import identities, parse_principal, person_of, same_person
from pipeline_assets.approval_guard.policy import (
    Approval,
    Author,
    Change,
    break_glass_request,
    decide,
    member_of_any,
)

APPROVERS = ("arn:aws:iam::111111111111:role/DataPlatformReleaseApprovers",)
BREAK_GLASS = ("arn:aws:iam::111111111111:role/DataPlatformBreakGlass",)
ALICE = Author("alice@example.com", "Alice Moreno", "9d1e4c7", "commit.json")
ALIASES = {"alice@example.com": ["alice@example.com"], "bob@example.com": ["bob@example.com", "bito"]}
SPOOF = "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"
SSO_BOB = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_ReleaseApprovers_0a1b/bito"
SSO_APPROVERS = ("arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReleaseApprovers_0a1b",)


def approval(arn, comment="looks good", status="Succeeded", source_identity="session"):
    """An approval; by default its SourceIdentity is the session name (as when the trust policy requires it)."""
    if source_identity == "session":
        source_identity = parse_principal(arn).session if arn else None
    return Approval(arn, "2026-03-02T10:02:43+00:00", comment, status, "action-execution", source_identity)


def no_groups(_principal, _group):
    return False


def run(approval_, author=ALICE, **kw):
    return decide(
        approval=approval_,
        author=author,
        approvers=kw.get("approvers", APPROVERS),
        break_glass_principals=kw.get("break_glass", BREAK_GLASS),
        is_group_member=kw.get("groups", no_groups),
        aliases=kw.get("aliases", ALIASES),
        change=kw.get("change"),
    )


@pytest.mark.parametrize(
    ("arn", "kind", "name", "person"),
    [
        ("arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com", "assumed-role",
         "DataPlatformReleaseApprovers", "bob@example.com"),
        ("arn:aws:iam::111111111111:user/engineers/bob", "user", "bob", "bob"),
        ("arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Approvers_1a", "role",
         "AWSReservedSSO_Approvers_1a", "AWSReservedSSO_Approvers_1a"),
        ("arn:aws:sts::111111111111:federated-user/carol", "federated-user", "carol", "carol"),
        ("arn:aws:iam::111111111111:root", "root", "root", "root"),
    ],
)  # fmt: skip
def test_principal_arns_are_parsed(arn, kind, name, person):
    principal = parse_principal(arn)
    assert (principal.kind, principal.name, principal.person) == (kind, name, person)
    assert principal.account == "111111111111"


@pytest.mark.parametrize(
    ("approver", "author", "expected"),
    [
        ("arn:aws:sts::111111111111:assumed-role/R/alice@example.com", "Alice@Example.com", True),
        ("arn:aws:iam::111111111111:user/alice", "alice@example.com", True),
        ("arn:aws:sts::111111111111:assumed-role/R/alice", "41234+alice@users.noreply.github.com", True),
        ("arn:aws:sts::111111111111:assumed-role/R/bob@example.com", "alice@example.com", False),
    ],
)
def test_same_person_matches_email_local_part_and_github_noreply(approver, author, expected):
    assert same_person(parse_principal(approver).person, [author]) is expected


def test_aliases_link_a_git_email_to_a_different_aws_name():
    aliases = {"alice@example.com": ["amoreno"]}
    approver = parse_principal("arn:aws:sts::111111111111:assumed-role/R/amoreno")
    assert same_person(approver.person, ["alice@example.com"], aliases)
    assert "amoreno" in identities(["alice@example.com"], aliases)


def test_a_different_approver_in_the_approvers_role_is_allowed():
    decision = run(approval("arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"))
    assert decision.allowed and decision.person.name == "bob@example.com"


def test_self_approval_is_rejected_with_reason_and_fix():
    decision = run(approval("arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/alice@example.com"))
    assert not decision.allowed
    assert "alice@example.com approved a change they authored or helped author (commit 9d1e4c7" in decision.message
    assert "Fix: another member of the approvers group approves" in decision.message


def test_approver_outside_the_approvers_principal_is_rejected():
    decision = run(approval("arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Developers_0a/bob@example.com"))
    assert not decision.allowed
    assert "is not in the approvers principal (arn:aws:iam::111111111111:role/DataPlatformReleaseApprovers)" in (
        decision.message
    )


def test_same_role_name_in_another_account_is_not_an_approver():
    decision = run(approval("arn:aws:sts::999999999999:assumed-role/DataPlatformReleaseApprovers/bob@example.com"))
    assert not decision.allowed


def test_both_violations_are_reported_together():
    decision = run(approval("arn:aws:sts::111111111111:assumed-role/Developers/alice@example.com"))
    assert len(decision.reasons) == 2  # the author, and not an approver


def test_iam_group_membership_is_checked_for_iam_users():
    groups = ("arn:aws:iam::111111111111:group/ReleaseApprovers",)
    members = {"ReleaseApprovers": {"bob"}}

    def is_member(principal, group):
        return principal.name in members.get(group, set())

    bob = parse_principal("arn:aws:iam::111111111111:user/bob")
    mallory = parse_principal("arn:aws:iam::111111111111:user/mallory")
    assert member_of_any(bob, groups, is_member)
    assert not member_of_any(mallory, groups, is_member)


@pytest.mark.parametrize(
    ("approval_", "author", "message"),
    [
        (None, ALICE, "no approved approval Prod/PromoteToProd was found"),
        (approval("arn:aws:iam::1:user/x", status="Failed"), ALICE, "its status is Failed"),
        (approval(None), ALICE, "the approver of approval Prod/PromoteToProd could not be established"),
        (
            approval("arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/bob@example.com"),
            Author(None, None, None, None),
            "the commit author of this change could not be established",
        ),
    ],
    ids=["no-approval", "rejected-approval", "unknown-approver", "unknown-author"],
)
def test_missing_facts_fail_closed(approval_, author, message):
    decision = decide(
        approval=approval_,
        author=author,
        approvers=APPROVERS,
        break_glass_principals=BREAK_GLASS,
        is_group_member=no_groups,
        approval_ref="approval Prod/PromoteToProd",
    )
    assert not decision.allowed
    assert message in decision.message and "Fix:" in decision.message


@pytest.mark.parametrize(
    ("comment", "incident", "reason"),
    [
        ("BREAK-GLASS: INC-4711 streaming job down", "INC-4711", "streaming job down"),
        ("break glass INC-12 hotfix", "INC-12", "hotfix"),
        ("BREAK-GLASS because it is urgent", None, "because it is urgent"),
    ],
)  # fmt: skip
def test_break_glass_comments_are_parsed(comment, incident, reason):
    request = break_glass_request(comment)
    assert request.incident == incident and request.reason == reason


def test_an_ordinary_comment_is_not_break_glass():
    assert break_glass_request("ship it; glass half full") is None


def test_break_glass_by_on_call_allows_self_approval_and_says_so():
    decision = run(
        approval(
            "arn:aws:sts::111111111111:assumed-role/DataPlatformBreakGlass/alice@example.com",
            "BREAK-GLASS: INC-4711 MSK consumer lag, checkpoint fix",
        )
    )
    assert decision.allowed and decision.break_glass.incident == "INC-4711"
    assert "approver is the author" in decision.message and "retroactive review is now pending" in decision.message


def test_break_glass_needs_an_incident_reference():
    decision = run(approval("arn:aws:sts::111111111111:assumed-role/DataPlatformBreakGlass/bob", "BREAK-GLASS now!"))
    assert not decision.allowed and "must name its incident" in decision.message


def test_break_glass_is_refused_outside_the_break_glass_principal():
    decision = run(
        approval(
            "arn:aws:sts::111111111111:assumed-role/DataPlatformReleaseApprovers/alice@example.com",
            "BREAK-GLASS: INC-1 please",
        )
    )
    assert not decision.allowed and "is not a break-glass principal" in decision.message


def test_a_session_name_that_spoofs_another_user_is_rejected():
    """Alice assumes the approvers role with the session name bob@example.com; no SourceIdentity."""
    decision = run(approval(SPOOF, source_identity=None))

    assert not decision.allowed and decision.person.source == "unverified-session-name"
    assert "cannot be tied to a person: its session name 'bob@example.com' is chosen by whoever assumes" in (
        decision.message
    )
    assert "Fix: approve through IAM Identity Center" in decision.message


def test_the_source_identity_wins_over_the_session_name():
    """Alice again, but the role requires SourceIdentity: CloudTrail names her, whatever the session says."""
    decision = run(approval(SPOOF, source_identity="alice@example.com"))

    assert not decision.allowed and "alice@example.com approved a change they authored" in decision.message


def test_an_identity_center_session_without_a_mapping_is_rejected():
    decision = run(approval(SSO_BOB, source_identity=None), approvers=SSO_APPROVERS, aliases={})

    assert not decision.allowed and decision.person.source == "identity-center"
    assert "bito (identity-center) is not mapped to a git e-mail in approval.identity_aliases" in decision.message


def test_a_mapped_identity_center_session_is_accepted():
    decision = run(approval(SSO_BOB, source_identity=None), approvers=SSO_APPROVERS)

    assert decision.allowed and decision.person.name == "bito"


def test_a_mapped_alias_of_the_author_is_the_author():
    decision = run(approval(SSO_BOB, source_identity=None), author=Author("bob@example.com", None, "c", "x"),
                   approvers=SSO_APPROVERS)  # fmt: skip

    assert not decision.allowed and "bito approved a change they authored" in decision.message


def test_any_identity_of_the_change_counts_not_only_the_head_author():
    change = Change(("carol@example.com", "Bob Ito", "bob@example.com"))  # e.g. bob committed or co-authored

    decision = run(approval(SSO_BOB, source_identity=None), approvers=SSO_APPROVERS, change=change)

    assert not decision.allowed and "identities of the change: carol@example.com, Bob Ito" in decision.message


def test_unestablished_change_identities_fail_closed_even_for_break_glass():
    change = Change(problem="conflicting change-identities records")
    on_call = "arn:aws:sts::111111111111:assumed-role/DataPlatformBreakGlass/bob@example.com"

    for arn, comment in ((SSO_BOB, "ok"), (on_call, "BREAK-GLASS: INC-1 down")):
        decision = run(approval(arn, comment), approvers=SSO_APPROVERS, change=change)
        assert not decision.allowed and "conflicting change-identities records" in decision.message


def test_break_glass_still_needs_a_person_but_not_a_mapping():
    on_call = "arn:aws:sts::111111111111:assumed-role/DataPlatformBreakGlass/carol"
    comment = "BREAK-GLASS: INC-9 outage"

    assert not run(approval(on_call, comment, source_identity=None)).allowed
    assert run(approval(on_call, comment, source_identity="carol")).allowed


@pytest.mark.parametrize(
    ("arn", "source_identity", "expected"),
    [
        (SPOOF, None, (None, "unverified-session-name")),
        (SPOOF, "mallory", ("mallory", "source-identity")),
        (SSO_BOB, None, ("bito", "identity-center")),
        ("arn:aws:iam::111111111111:user/bob", None, ("bob", "iam-user")),
        ("arn:aws:sts::111111111111:federated-user/bob", None, (None, "unverified-session-name")),
    ],
)
def test_person_of_a_principal(arn, source_identity, expected):
    person = person_of(parse_principal(arn), source_identity)
    assert (person.name, person.source) == expected
