import sys

from cicd.dags.cli import main

sys.exit(main())
