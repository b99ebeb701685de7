"""`python -m cicd.dags ...` is `cicd dags ...` (the older spelling, kept for scripts)."""

import sys

from cicd.cli import main

sys.exit(main(["dags", *sys.argv[1:]]))
