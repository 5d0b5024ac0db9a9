"""Impute a partitioned recipient on a Dask cluster.

Fitting stays on one machine. The fitted model travels to the workers once,
as model-file bytes (manifest plus arrays, no pickle of model objects), each
worker imputes whole recipient partitions with their global row offsets, and
writes one Parquet file per (draw, partition). Because draws depend only on
(seed, row, draw), the result equals a local run's, file order included.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..errors import SurveyfuseError
from .stream import Partition, part_name, read_partition

_MODELS: dict[str, Any] = {}  # per worker process: model digest -> Imputer


def _client(workers: int | None, scheduler: str | None):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise SurveyfuseError(
            "missing_dependency",
            "the dask engine needs dask and distributed: pip install 'surveyfuse[dask]'",
            dependency=exc.name,
        ) from None
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(
        n_workers=workers or 2, threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _imputer_from(model: bytes):
    key = hashlib.sha256(model).hexdigest()
    if key not in _MODELS:
        from ..imputer import Imputer

        _MODELS.clear()
        _MODELS[key] = Imputer.load(model)
    return _MODELS[key]


def impute_partition(model: bytes, part: Partition, index: int, draws: int, seed: int, out_dir: str, chunk_rows: int | None,
                     include: bool = False) -> list[dict[str, Any]]:
    """Worker task: impute one partition, write ``part-imp{d}-{index}.parquet`` per draw (and d = 0 with ``include``)."""
    imputer = _imputer_from(model)
    writers: dict[int, pq.ParquetWriter] = {}
    reports = []
    try:
        for offset, table in read_partition(part, chunk_rows):
            if table.num_rows == 0:
                continue
            out = imputer.sample(table, draws=draws, seed=seed, row_offset=offset, include=include)
            reports.append(imputer.sample_report_)
            n = table.num_rows
            first = 0 if include else 1
            for d in range(first, draws + 1):
                piece = out.slice((d - first) * n, n)
                if d not in writers:
                    writers[d] = pq.ParquetWriter(str(Path(out_dir) / part_name(d, index, draws)), piece.schema)
                writers[d].write_table(piece)
    finally:
        for w in writers.values():
            w.close()
    return reports


def run_partitions_dask(
    imputer: Any,
    parts: list[Partition],
    draws: int,
    seed: int,
    out_dir: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_rows: int | None = None,
    progress: Any = None,
    include: bool = False,
) -> list[dict[str, Any]]:
    """Run every partition on the cluster; returns the per-chunk sample reports."""
    from dask.distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        model = client.scatter(imputer.to_bytes(), broadcast=True)
        futures = [
            client.submit(impute_partition, model, part, k, draws, seed, str(out_dir), chunk_rows, include, pure=False)
            for k, part in enumerate(parts)
        ]
        reports: list[dict[str, Any]] = []
        sizes = {f.key: p.rows for f, p in zip(futures, parts)}
        for fut in as_completed(futures):
            reports.extend(fut.result())
            if progress is not None:
                progress.update(sizes[fut.key])
        return reports
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def impute_dask_dataframe(imputer: Any, ddf: Any, draws: int = 20, seed: int | None = None) -> Any:
    """Lazily impute a dask DataFrame: returns a dask DataFrame of long outputs.

    Partitions keep their order; within each, rows are ordered by ``_imp``
    then ``_row``. ``_row`` is the global row position, so sorting the result
    by (``_imp``, ``_row``) gives exactly the local run's table.
    """
    import numpy as np

    from ..imputer import check_seed

    seed = check_seed(imputer.random_state if seed is None else seed)
    lengths = ddf.map_partitions(len).compute()
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    model = imputer.to_bytes()
    meta = imputer.sample(ddf._meta if len(ddf._meta) else ddf.head(1), draws=1, seed=seed).iloc[:0]

    def run(frame, partition_info=None):
        k = partition_info["number"] if partition_info else 0
        return _imputer_from(model).sample(frame.reset_index(drop=True), draws=draws, seed=seed, row_offset=int(offsets[k]))

    return ddf.map_partitions(run, meta=meta)
