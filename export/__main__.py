"""`python -m export ...` is `bert-export-serving ...`."""

import sys

from export.serving_export import main

sys.exit(main())
