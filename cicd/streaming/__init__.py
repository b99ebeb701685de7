"""The streaming job's operations from the delivery tooling: redeploy, rollback, status, throughput benchmark."""
