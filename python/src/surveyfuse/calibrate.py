"""Old import path of :mod:`surveyfuse.surveys.calibrate` (moved after 0.1.0): existing scripts keep working."""
import sys

from .surveys import calibrate as _moved

sys.modules[__name__] = _moved
