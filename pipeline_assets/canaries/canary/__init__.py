"""Post-release canaries and monitoring Lambdas of the data platform.

The Lambda asset is `pipeline_assets/canaries/`; handlers are `canary.<module>.handler`. Standard
library and boto3 only (what the Lambda Python runtime provides), clients injected so that tests
pass moto clients or botocore Stubbers. Every canary publishes what it measured and, when it could
not measure (API error, timeout, missing data), a `CanaryError` metric and an error log line: a
canary never reports health it did not observe.
"""
