"""Deploy readiness: rules over the whole cloud assembly, for the relations one-resource linters cannot see.

cfn-lint, checkov and cdk-nag judge one resource at a time. What broke the first deploys were relations,
often across stacks and accounts: a KMS key and every service that encrypts with it, a topic and whoever
publishes to it, a role ARN and the stack that creates it (deployed before it is named), a queue and its
senders' key grants. `assembly` loads every stack of every stage and resolves references between them;
`rules/` holds one rule per file; `pack` lists them and applies reviewed suppressions.
"""
