"""Automated review of a prepared CloudFormation change set, between prepare and execute."""
