"""Model files: a zip holding ``manifest.json`` and ``arrays.npz``, no pickle.

Arrays load with ``allow_pickle=False``; torch backends keep their weights
there too, as numeric arrays (see ``backends/deep/training.py``). Loading
refuses files without our manifest, of a newer format, or naming an unknown
method, so a model file can be shared without executing anything it holds.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import SurveyfuseError

FORMAT = "surveyfuse-model"
FORMAT_VERSION = 1


def model_bytes(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The model file's content, for shipping a model to workers without a file."""
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "surveyfuse_version": __version__, **manifest}
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array '{key}' has dtype object; model files hold numeric arrays only")
    npz = io.BytesIO()
    np.savez_compressed(npz, **arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=1))
        zf.writestr("arrays.npz", npz.getvalue())
    return buf.getvalue()


def save_model(path: str | os.PathLike, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write a model file atomically."""
    from .atomic import PendingOutput, unwritable

    content = model_bytes(manifest, arrays)
    with PendingOutput(path) as pending:
        try:
            pending.path.write_bytes(content)
        except OSError as exc:
            raise unwritable(Path(path), exc) from None
        return pending.commit()


def load_model(source: str | os.PathLike | bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a model file (or its bytes) as (manifest, arrays); refuses anything that is not ours."""
    if isinstance(source, (bytes, bytearray)):
        path: Any = "<model bytes>"
        handle: Any = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.exists():
            raise SurveyfuseError("file_not_found", f"model file '{path}' does not exist", path=str(path))
        handle = path
    try:
        with zipfile.ZipFile(handle) as zf:
            names = set(zf.namelist())
            if "manifest.json" not in names or "arrays.npz" not in names:
                raise ValueError("missing manifest.json or arrays.npz")
            manifest = json.loads(zf.read("manifest.json"))
            with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, KeyError, json.JSONDecodeError, OSError) as exc:
        raise SurveyfuseError(
            "model_unrecognised", f"'{path}' is not a surveyfuse model file ({exc})", path=str(path)
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SurveyfuseError("model_unrecognised", f"'{path}' is not a surveyfuse model file", path=str(path))
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise SurveyfuseError(
            "model_unrecognised",
            f"'{path}' uses model format {manifest.get('format_version')}, newer than this surveyfuse "
            f"({__version__}) reads; upgrade surveyfuse",
            path=str(path),
        )
    return manifest, arrays


def prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": v for k, v in arrays.items()}


def unprefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    p = prefix + "/"
    return {k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}
