"""Identity normalisation: one person, however their e-mail or name is spelled (issue 17 #7)."""

import pytest

from pipeline_assets.approval_guard.identity import identities, is_mapped, normalise, same_person


@pytest.mark.parametrize(
    ("variant", "same"),
    [
        ("alice+rel@example.com", True),  # subaddress
        ("ａｌｉｃｅ@example.com", True),  # fullwidth letters (NFKC)
        ("ALICE@Example.COM", True),
        ("alice@example.com ", True),
        ("a.lice@example.com", False),  # outside Gmail a dot is part of the address: maybe another person
    ],
)
def test_spellings_of_one_mailbox_are_one_person(variant, same):
    assert same_person("alice@example.com", [variant]) is same


def test_gmail_ignores_dots_and_googlemail_is_gmail():
    assert normalise("Alice.Moreno+ci@googlemail.com") == "alicemoreno@gmail.com"
    assert same_person("alicemoreno@gmail.com", ["a.l.i.c.e.moreno@gmail.com"])
    assert normalise("a.lice@example.com") == "a.lice@example.com"


def test_a_noreply_address_names_the_provider_account_itself():
    assert {"alice-gh", "github:1001"} <= identities(["1001+alice-gh@users.noreply.github.com"])


def test_a_provider_account_is_the_person_the_aliases_give_it_to():
    aliases = {"alice@example.com": ["amoreno", "github:1001"]}
    assert same_person("amoreno", ["github:1001"], aliases)
    assert not same_person("amoreno", ["github:1002"], aliases)
    assert is_mapped("GitHub:1001", aliases) and not is_mapped("github:1002", aliases)


def test_an_alias_written_in_another_form_still_maps():
    assert is_mapped("ａmoreno", {"alice@example.com": ["AMoreno"]})
