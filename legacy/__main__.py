"""`python -m legacy SCRIPT.py [ARGUMENTS...]`: the same as `bert-run-tf1`."""

import sys

from legacy.runner import main

sys.exit(main())
