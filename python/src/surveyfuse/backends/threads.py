"""Independent fits run side by side in threads.

scikit-learn's tree building and numpy's products release the GIL, so
threads use the cores without copying the donor data to processes; each
task's result depends only on its own inputs, so the results are the same
as one by one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable


def in_threads(task: Callable[[Any], Any], items: Iterable[Any], n_jobs: int) -> list[Any]:
    """``[task(x) for x in items]``, run in up to ``n_jobs`` threads (-1: all cores)."""
    from joblib import Parallel, delayed

    items = list(items)
    if n_jobs == 1 or len(items) < 2:
        return [task(x) for x in items]
    return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(task)(x) for x in items)
