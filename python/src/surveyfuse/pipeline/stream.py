"""Chunked runs: recipients larger than memory in, one Parquet file or dataset out.

The recipient is read in chunks of ``chunk_rows`` (Parquet row groups, or a
Parquet dataset's files in name order); each chunk is imputed with its global
row offset, so the draws equal those of a whole-file run (see
:mod:`surveyfuse.rng`). Memory is bounded by one chunk times the draws.

The output keeps the documented order (``_imp`` then ``_row``) without holding
it in memory: each draw streams into its own temporary file, and the files are
joined at the end, row group by row group. Everything is written in a
temporary place next to the target and renamed into place at the end (see
:mod:`surveyfuse.data.atomic`), so a failed or interrupted run leaves nothing
behind, and one killed outright leaves nothing the next run trips over.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.atomic import PendingOutput, check_replaceable, unwritable
from ..data.frames import check_writable_columns
from ..data.io import READ_FORMATS, read_table, to_arrow, write_table
from ..errors import SurveyfuseError

DEFAULT_CHUNK_ROWS = 50_000
#: with more draws than this, each chunk's draws go to files closed at once (open files are limited)
MAX_OPEN_WRITERS = 128


def part_name(draw: int, part: int, draws: int, ext: str = "parquet") -> str:
    """``part-imp{draw}-{part}``, zero-padded so that names sort in output order for any number of draws."""
    width = max(4, len(str(draws)))
    return f"part-imp{draw:0{width}d}-{part:06d}.{ext}"


@dataclass(frozen=True)
class Partition:
    """A slice of the recipient: a file, its row groups, and the global row offset."""

    path: str
    row_groups: tuple[int, ...] | None  # None: the whole file
    offset: int
    rows: int
    columns: int = 0


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
        frame = read_table(path, role="recipient")  # raises file_not_found with the usual message
        return [Partition(str(path), None, 0, len(frame), len(frame.columns))]
    parts: list[Partition] = []
    offset = 0
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except Exception as exc:  # noqa: BLE001 - the reader's message names the problem
            raise SurveyfuseError("file_unreadable", f"recipient file '{f}' could not be read as parquet: {exc}", path=str(f)) from None
        group: list[int] = []
        rows = 0
        width = len(meta.schema.to_arrow_schema().names)
        for g in range(meta.num_row_groups):
            group.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= chunk_rows:
                parts.append(Partition(str(f), tuple(group), offset, rows, width))
                offset += rows
                group, rows = [], 0
        if group:
            parts.append(Partition(str(f), tuple(group), offset, rows, width))
            offset += rows
    return parts


def read_partition(part: Partition, chunk_rows: int | None = None) -> Iterator[tuple[int, pa.Table]]:
    """Yield (row offset, table) pieces of one partition, at most ``chunk_rows`` rows each."""
    if part.row_groups is None:
        frame = read_table(part.path, role="recipient")
        try:
            table = to_arrow(frame)  # keeps Stata labels and missing codes
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise SurveyfuseError(
                "unsupported_column_type", f"recipient file '{part.path}' has a column Arrow cannot hold: {exc}",
                path=part.path,
            ) from None
    else:
        try:
            table = pq.ParquetFile(part.path).read_row_groups(list(part.row_groups))
            table.validate(full=True)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise SurveyfuseError(
                "file_unreadable",
                f"recipient file '{part.path}' could not be read as parquet (row groups {part.row_groups[0]}-"
                f"{part.row_groups[-1]}): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                path=part.path, role="recipient", format="parquet",
            ) from None
    step = chunk_rows or max(table.num_rows, 1)
    for start in range(0, max(table.num_rows, 1), step):
        if table.num_rows == 0:
            yield part.offset, table
            return
        yield part.offset + start, table.slice(start, step)


class LongWriter:
    """Writes long output chunk by chunk, in ``_imp`` then ``_row`` order.

    ``dataset=True`` writes a folder with one Parquet file per draw
    (``part-imp0001-000000.parquet`` ...), which reads back in that order.
    ``include=True``: the chunks also hold the original rows (``_imp == 0``).
    Nothing appears at ``path`` before :meth:`close`; :meth:`abort` (or a
    failed close) removes every temporary.
    """

    def __init__(self, path: Path, fmt: str, draws: int, dataset: bool = False, categorical: dict | None = None,
                 include: bool = False, metadata: dict | None = None) -> None:
        self.path, self.fmt, self.draws, self.dataset = Path(path), fmt, draws, dataset
        self.first = 0 if include else 1
        self.categorical = categorical or {}
        self.metadata = metadata  # Stata labels of the block (the recipient's ride on its tables)
        if not dataset:
            check_replaceable(self.path, directory=False)  # refuse up front, not after the run
        self.scratch = PendingOutput(self.path, directory=True, scratch=not dataset)
        self.tmpdir = self.scratch.path
        self.writers: dict[int, Any] = {}
        self.pieces: list[pa.Table] = []  # formats that cannot stream (dta, feather)
        self.schema: pa.Schema | None = None
        self.rows = 0
        self.chunks = 0
        self.keep_open = draws <= MAX_OPEN_WRITERS

    def _draw_path(self, d: int, part: int = 0) -> Path:
        """File names sort in output order: draw, then recipient partition."""
        return self.tmpdir / part_name(d, part, self.draws, "csv" if self.fmt == "csv" and not self.dataset else "parquet")

    def write(self, table: pa.Table) -> None:
        table = self._conform(table)
        try:
            self._write(table)
        except OSError as exc:
            raise unwritable(self.path, exc) from None
        self.rows += table.num_rows
        self.chunks += 1

    def _conform(self, table: pa.Table) -> pa.Table:
        """Every chunk must have the first chunk's columns and types (one output file, one schema)."""
        if self.schema is None:
            check_writable_columns(table, "parquet" if self.dataset else self.fmt)
            self.schema = table.schema
            return table
        if table.schema.equals(self.schema):
            return table
        if table.schema.names == self.schema.names:
            try:
                return table.cast(self.schema)
            except pa.ArrowException:
                pass
        raise self._schema_error(table)

    def _schema_error(self, table: pa.Table) -> SurveyfuseError:
        row = int(table.column("_row")[0].as_py()) if "_row" in table.column_names and table.num_rows else None
        names, first = table.schema.names, self.schema.names
        if names != first:
            return SurveyfuseError(
                "bad_data",
                f"recipient rows from {row} on have the columns {names}, where the earlier rows had {first}; "
                f"every file of a recipient must have the same columns",
                row=row,
            )
        field = next(f for f in table.schema if not f.type.equals(self.schema.field(f.name).type))
        return SurveyfuseError(
            "bad_data",
            f"recipient rows from {row} on hold column '{field.name}' as {field.type}, where the earlier rows had "
            f"{self.schema.field(field.name).type}; every file of a recipient must give a column the same type",
            column=field.name, row=row,
        )

    def _write(self, table: pa.Table) -> None:
        if self.fmt not in ("parquet", "csv") and not self.dataset:
            self.pieces.append(table)
            return
        imp = table.column("_imp").to_numpy()
        n = table.num_rows // (self.draws + 1 - self.first)
        for d in range(self.first, self.draws + 1):
            start = (d - self.first) * n
            piece = table.slice(start, n)
            assert n == 0 or (imp[start] == d and imp[start + n - 1] == d)
            if self.keep_open:
                writer = self.writers.get(d)
                if writer is None:
                    writer = self.writers[d] = self._open(self._draw_path(d), piece.schema)
                writer.write_table(piece)
            else:
                writer = self._open(self._draw_path(d, self.chunks), piece.schema)
                writer.write_table(piece)
                writer.close()

    def _open(self, path: Path, schema: pa.Schema) -> Any:
        if self.fmt == "csv" and not self.dataset:
            import pyarrow.csv as pacsv

            return pacsv.CSVWriter(str(path), schema)
        return pq.ParquetWriter(str(path), schema)

    def close(self) -> Path:
        """Join the parts into the target and rename into place."""
        try:
            for w in self.writers.values():
                w.close()
            self.writers = {}
            if self.dataset:
                return self.scratch.commit()
            if self.pieces or not any(self.tmpdir.glob("part-imp*")):
                if not self.pieces:
                    raise SurveyfuseError("empty_recipient", "the recipient has no rows")
                table = pa.concat_tables(self.pieces)
                self.pieces = []
                return write_table(table, self.path, self.fmt, self.categorical, self.metadata)
            joined = PendingOutput(self.path)
            try:
                self._join(joined.path)
            except BaseException:
                joined.discard()
                raise
            return joined.commit()
        except OSError as exc:
            raise unwritable(self.path, exc) from None
        finally:
            self.abort()

    def abort(self) -> None:
        for w in self.writers.values():
            try:
                w.close()
            except Exception:  # noqa: BLE001 - closing a half-written part on the way out
                pass
        self.writers = {}
        self.scratch.discard()

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
        try:
            for p in paths:
                pf = pq.ParquetFile(p)
                for g in range(pf.metadata.num_row_groups):
                    t = pf.read_row_group(g)
                    writer = writer or pq.ParquetWriter(str(target), t.schema)
                    writer.write_table(t)
        finally:
            if writer is not None:
                writer.close()
