"""cdk-nag rule packs applied to every stack of every stage."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import IConstruct


def apply_nag_checks(scope: IConstruct) -> None:
    cdk.Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))
    cdk.Aspects.of(scope).add(NIST80053R5Checks(verbose=True))
