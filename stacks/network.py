"""The existing VPC, imported from ids in config: no lookup, so synth needs no credentials."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from constructs import Construct


def import_vpc(scope: Construct, *, vpc_id: str, availability_zones: Sequence[str]) -> ec2.IVpc:
    # Subnets are passed to MWAA and EMR Serverless as plain ids; importing them here as well would
    # only add CDK warnings about route tables nobody reads.
    return ec2.Vpc.from_vpc_attributes(scope, "Vpc", vpc_id=vpc_id, availability_zones=list(availability_zones))
