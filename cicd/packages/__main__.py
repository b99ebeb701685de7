"""`python -m cicd.packages ...` is `cicd packages ...` (the older spelling, kept for scripts)."""

import sys

from cicd.cli import main

sys.exit(main(["packages", *sys.argv[1:]]))
