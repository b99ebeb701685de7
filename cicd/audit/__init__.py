"""SOC 2 change-management evidence: read the release ledger and report every change with its controls."""
