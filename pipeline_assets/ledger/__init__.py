"""The release ledger: immutable JSON evidence of every pipeline execution, written to an Object Lock bucket.

The Lambda package is this folder together with `pipeline_assets/approval_guard/` (which records its
decisions through the same writer); the handler is `pipeline_assets.ledger.handler.handler`.
Standard library and boto3 only.
"""
