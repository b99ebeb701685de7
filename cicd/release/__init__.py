"""Release bundles: built once from the repository, content-addressed, promoted unchanged."""
