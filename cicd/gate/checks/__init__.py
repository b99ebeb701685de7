"""One module per gate check; each registers itself with @register (see cicd.gate.registry)."""
