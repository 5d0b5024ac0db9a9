"""Old import path of :mod:`surveyfuse._bridge`, the R package's private entry point (moved after 0.1.0)."""
import sys

from . import _bridge as _moved

sys.modules[__name__] = _moved
