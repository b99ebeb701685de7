import sys

from cicd.cli import main

sys.exit(main())
