"""One rule per module, named for what it finds; cicd/readiness/pack.py lists them."""
