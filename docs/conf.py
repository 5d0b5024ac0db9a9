"""Sphinx configuration of the surveyfuse documentation (``make docs``).

Everything is built offline: no intersphinx, no CDN, the theme's assets are
local. Tutorials are MyST notebooks executed at every build on the bundled
data, so an API change that breaks one fails the build. The API reference,
the R reference (and its knitted vignette) and the benchmark pages are
generated at build time by ``_ext/surveyfuse_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import surveyfuse  # noqa: E402

project = "surveyfuse"
author = "the surveyfuse developers"
copyright = "the surveyfuse developers, MIT licence"
version = release = surveyfuse.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "surveyfuse_docs"]

root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", "**/.ipynb_checkpoints", "README.md", "_generated"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}

# MyST: heading anchors so "page.md#section" links resolve (and are checked)
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]  # no dollarmath: MathJax would load from a CDN

# execute every tutorial at every build; any error fails the build
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove-warn"

autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"surveyfuse {release}"
html_static_path = ["_static"]
html_css_files = ["surveyfuse.css"]
# files the tutorials write (an evaluation report, the widget page) are copied into the site as they are
html_extra_path = ["_generated"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
html_last_updated_fmt = None
(DOCS / "_generated").mkdir(exist_ok=True)
