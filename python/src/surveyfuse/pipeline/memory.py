"""Refuse a run whose draws cannot fit in memory, before any work is done.

Memory grows with (recipient rows imputed at a time) x draws: the backend's
draws, their decoded copy and the long output table all hold one value per
row, draw and column. :func:`check_memory` compares an estimate of that with
what the machine has (physical memory, or the container's limit when lower)
and raises ``insufficient_memory`` naming the two ways out: smaller chunks
(``--chunk-rows``) or fewer draws. The estimate is deliberately rough; it is
there to refuse the absurd (``"draws": 1000000000``) with a clear message
instead of an allocation failure minutes into a run.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SurveyfuseError

#: bytes held per (row, draw, output column): the long table and its conversion for writing
BYTES_PER_CELL = 16
#: bytes held per (row, draw, block variable): draws, redraws and the decoded block
BYTES_PER_DRAW_VALUE = 32


def machine_memory() -> int | None:
    """Physical memory in bytes, or the cgroup memory limit when it is lower; None when unknown."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) > 0:
            total = int(text) if total is None else min(total, int(text))
    return total


def estimate_bytes(rows: int, draws: int, columns: int, block: int) -> int:
    """Memory that imputing ``rows`` recipient rows ``draws`` times needs, roughly."""
    return int(rows) * int(draws) * (BYTES_PER_CELL * int(columns) + BYTES_PER_DRAW_VALUE * int(block))


def check_memory(rows: int, draws: int, columns: int, block: int, *, chunked: bool,
                 available: int | None = None) -> None:
    """Raise ``insufficient_memory`` when the estimate exceeds the machine's memory.

    ``rows`` is what is imputed at once (one chunk when ``chunked``);
    ``columns`` the width of the long output (recipient columns, block,
    ``_imp`` and ``_row``).
    """
    available = machine_memory() if available is None else available
    if available is None or rows <= 0:
        return
    need = estimate_bytes(rows, draws, columns, block)
    if need <= available:
        return
    per_row_draw = max(estimate_bytes(1, 1, columns, block), 1)
    max_draws = available // max(per_row_draw * rows, 1)
    max_rows = available // (per_row_draw * int(draws))
    what = f"draws={draws:,} for {rows:,} recipient row{'s' if rows != 1 else ''} at a time"
    if chunked and max_rows >= 1:
        fix = (f"use --chunk-rows {int(max_rows):,} or less (the spec's chunk_rows), or fewer draws "
               f"(at most {int(max_draws):,} at the current chunk size)")
    elif chunked:
        fix = f"use fewer draws: at most {int(available // per_row_draw):,} fit, even with --chunk-rows 1"
    else:
        fix = ("impute the recipient in chunks (surveyfuse run streams it with --chunk-rows; sample() takes "
               f"slices with row_offset) or use fewer draws (at most {int(max_draws):,} for all rows at once)")
    raise SurveyfuseError(
        "insufficient_memory",
        f"{what} needs about {_size(need)} of memory (an estimate), more than the {_size(available)} this "
        f"machine has; {fix}",
        draws=int(draws), rows=int(rows), estimate_bytes=int(need), available_bytes=int(available),
    )


def _size(n: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    number = f"{n:.1f}" if n < 10_000 else f"{n:.3g}"
    return f"{number} {units[i]}" if i else f"{int(n)} B"
