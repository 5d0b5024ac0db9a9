"""Notebook views: rich HTML for the main objects and an interactive diagnostics widget.

* :mod:`.views` - the ``_repr_html_`` of ``Imputer``, ``Evaluation`` and ``RunResult``.
* :mod:`.widget` - :func:`diagnostics_widget` (Jupyter, needs ``anywidget``) and
  :func:`diagnostics_html` (the same view as a self-contained page).
"""

from __future__ import annotations

from .views import evaluation_html, imputer_html, run_summary_html
from .widget import diagnostics_data, diagnostics_html, diagnostics_widget

__all__ = ["diagnostics_data", "diagnostics_html", "diagnostics_widget", "evaluation_html", "imputer_html",
           "run_summary_html"]
