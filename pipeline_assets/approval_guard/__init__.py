"""Separation of duties for production approvals.

Runs as a CodePipeline Lambda invoke action right after the manual approval; fails the stage with a
clear reason when the approver wrote the change or is not an approver, and records every decision
(and every break-glass use, with a pending retroactive review) in the release ledger. Handler:
`pipeline_assets.approval_guard.handler.handler`.
"""
