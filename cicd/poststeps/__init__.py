"""The staging post-steps of the delivery pipeline: external-system tests and canary runs."""
