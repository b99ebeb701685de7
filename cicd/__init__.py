"""The data platform's delivery tooling: the validation gate, release bundles, rollback, audit."""
