"""Chunked runs: recipients larger than memory in, one Parquet file or dataset out.

The recipient is read in chunks of ``chunk_rows`` (Parquet row groups, or a
Parquet dataset's files in name order); each chunk is imputed with its global
row offset, so the draws equal those of a whole-file run (see
:mod:`surveyfuse.rng`). Memory is bounded by one chunk times the draws.

The output keeps the documented order (``_imp`` then ``_row``) without holding
it in memory: each draw streams into its own temporary file, and the files are
joined at the end, row group by row group. Everything is written in a
temporary place next to the target and renamed into place at the end, so a
failed run leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .data.io import READ_FORMATS, read_table, to_arrow, write_table
from .errors import SurveyfuseError

DEFAULT_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class Partition:
    """A slice of the recipient: a file, its row groups, and the global row offset."""

    path: str
    row_groups: tuple[int, ...] | None  # None: the whole file
    offset: int
    rows: int


def recipient_partitions(path: str | Path, chunk_rows: int) -> list[Partition]:
    """Split a Parquet file or dataset folder into partitions of about ``chunk_rows`` rows.

    Other formats are one partition (read whole). Partition boundaries follow
    row groups, so they cost no extra reading.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
        if not files:
            raise SurveyfuseError("file_unreadable", f"recipient folder '{path}' holds no .parquet files", path=str(path))
    elif READ_FORMATS.get(path.suffix.lower()) == "parquet" and path.exists():
        files = [path]
    else:
        n = len(read_table(path, role="recipient")) if path.exists() else 0
        if not path.exists():
            read_table(path, role="recipient")  # raises file_not_found with the usual message
        return [Partition(str(path), None, 0, n)]
    parts: list[Partition] = []
    offset = 0
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except Exception as exc:  # noqa: BLE001 - the reader's message names the problem
            raise SurveyfuseError("file_unreadable", f"recipient file '{f}' could not be read as parquet: {exc}", path=str(f)) from None
        group: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            group.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= chunk_rows:
                parts.append(Partition(str(f), tuple(group), offset, rows))
                offset += rows
                group, rows = [], 0
        if group:
            parts.append(Partition(str(f), tuple(group), offset, rows))
            offset += rows
    return parts


def read_partition(part: Partition, chunk_rows: int | None = None) -> Iterator[tuple[int, pa.Table]]:
    """Yield (row offset, table) pieces of one partition, at most ``chunk_rows`` rows each."""
    if part.row_groups is None:
        table = to_arrow(read_table(part.path, role="recipient"))  # keeps Stata labels and missing codes
    else:
        table = pq.ParquetFile(part.path).read_row_groups(list(part.row_groups))
    step = chunk_rows or max(table.num_rows, 1)
    for start in range(0, max(table.num_rows, 1), step):
        if table.num_rows == 0:
            yield part.offset, table
            return
        yield part.offset + start, table.slice(start, step)


class LongWriter:
    """Writes long output chunk by chunk, in ``_imp`` then ``_row`` order.

    ``dataset=True`` writes a folder with one Parquet file per draw
    (``part-imp0001.parquet`` ...), which reads back in that order.
    ``include=True``: the chunks also hold the original rows (``_imp == 0``).
    """

    def __init__(self, path: Path, fmt: str, draws: int, dataset: bool = False, categorical: dict | None = None,
                 include: bool = False, metadata: dict | None = None) -> None:
        self.path, self.fmt, self.draws, self.dataset = Path(path), fmt, draws, dataset
        self.first = 0 if include else 1
        self.categorical = categorical or {}
        self.metadata = metadata  # Stata labels of the block (the recipient's ride on its tables)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.writers: dict[int, Any] = {}
        self.pieces: list[pa.Table] = []  # formats that cannot stream (dta, feather)
        self.rows = 0

    def _draw_path(self, d: int, part: int = 0) -> Path:
        """File names sort in output order: draw, then recipient partition."""
        return self.tmpdir / f"part-imp{d:04d}-{part:06d}.{'csv' if self.fmt == 'csv' and not self.dataset else 'parquet'}"

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self.fmt not in ("parquet", "csv") and not self.dataset:
            self.pieces.append(table)
            return
        imp = table.column("_imp").to_numpy()
        n = table.num_rows // (self.draws + 1 - self.first)
        for d in range(self.first, self.draws + 1):
            start = (d - self.first) * n
            piece = table.slice(start, n)
            assert n == 0 or (imp[start] == d and imp[start + n - 1] == d)
            writer = self.writers.get(d)
            if writer is None:
                if self.fmt == "csv" and not self.dataset:
                    import pyarrow.csv as pacsv

                    writer = pacsv.CSVWriter(str(self._draw_path(d)), piece.schema)
                else:
                    writer = pq.ParquetWriter(str(self._draw_path(d)), piece.schema)
                self.writers[d] = writer
            writer.write_table(piece)

    def close(self) -> Path:
        """Join the parts into the target and rename into place."""
        try:
            for w in self.writers.values():
                w.close()
            if self.dataset:
                target_tmp = self.tmpdir
            elif self.pieces or not any(self.tmpdir.glob("part-imp*")):
                table = pa.concat_tables(self.pieces) if self.pieces else None
                if table is None:
                    raise SurveyfuseError("empty_recipient", "the recipient has no rows")
                write_table(table, self.path, self.fmt, self.categorical, self.metadata)
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                return self.path
            else:
                target_tmp = self.tmpdir / ("joined." + self.fmt)
                self._join(target_tmp)
            _replace(target_tmp, self.path)
            return self.path
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def abort(self) -> None:
        for w in self.writers.values():
            try:
                w.close()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _join(self, target: Path) -> None:
        paths = sorted(p for p in self.tmpdir.glob("part-imp*") if p.is_file())
        if self.fmt == "csv":
            with open(target, "wb") as out:
                for i, p in enumerate(paths):
                    with open(p, "rb") as fh:
                        if i:
                            fh.readline()  # header once
                        shutil.copyfileobj(fh, out)
            return
        writer = None
        for p in paths:
            pf = pq.ParquetFile(p)
            for g in range(pf.metadata.num_row_groups):
                t = pf.read_row_group(g)
                writer = writer or pq.ParquetWriter(str(target), t.schema)
                writer.write_table(t)
        if writer is not None:
            writer.close()


def _replace(src: Path, dst: Path) -> None:
    """Atomic for files; for folders, the old one is removed only after the new one is in place."""
    if src.is_dir():
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        else:
            os.replace(src, dst)
        return
    os.replace(src, dst)
