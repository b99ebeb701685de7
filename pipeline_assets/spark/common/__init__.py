"""The small library every job shares: session settings, conforming drifting inputs, quarantine, idempotent writes."""
