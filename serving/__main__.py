"""`python -m serving ...` = bert-serving-start."""

import sys

from serving.cli import main

if __name__ == "__main__":
  sys.exit(main())
