"""Whether a build moves the trust boundary, decided by deployed code from what self-mutation would deploy.

Handler: `pipeline_assets.trust_boundary_check.handler.handler` (a CodePipeline Lambda invoke action
after Validate, deployed by the DeliveryAudit stack).
"""
