"""`bert.run_classifier`: the layout of Google's `bert-tensorflow` pip package.

Old notebooks and scripts write `from bert import run_classifier` or
`from bert.run_classifier import *`. Both get the top-level `run_classifier`
module itself (this module replaces itself with it in `sys.modules`), so there
is one copy of its names and every flag is defined once.
"""

import sys

import run_classifier as _run_classifier

sys.modules[__name__] = _run_classifier
