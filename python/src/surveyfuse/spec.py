"""Old import path of :mod:`surveyfuse.pipeline.spec` (moved after 0.1.0): existing scripts keep working."""
import sys

from .pipeline import spec as _moved

sys.modules[__name__] = _moved
