"""Outputs appear whole or not at all.

Every output (a file, or a Parquet dataset folder) is written under a
temporary name in the target's own folder, ``.<name>.sf-tmp-<pid>-<random>``,
and renamed onto the target once complete: a reader never sees half a file,
and a failed or interrupted run leaves an earlier output as it was.

The writing process holds an advisory lock (``flock``) on each temporary for
as long as it lives. A run killed outright (SIGKILL, power loss) cannot clean
up, but its lock dies with it: the next run writing the same target finds
the unlocked temporaries and removes them (:func:`sweep`), while those of a
run still going stay locked and are left alone. Without ``fcntl`` (Windows)
nothing is swept.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from ..errors import SurveyfuseError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TEMP_MARK = ".sf-tmp-"
#: characters of the target's name kept in its temporaries' names (file names have a length limit)
NAME_KEEP = 100
#: what a Parquet dataset folder written by surveyfuse holds; only such a folder is ever replaced
_DATASET_PART = re.compile(r"^part-imp\d+-\d+\.parquet$")


def temp_prefix(target: Path) -> str:
    return f".{Path(target).name[:NAME_KEEP]}{TEMP_MARK}"


def unwritable(target: Path, exc: OSError) -> SurveyfuseError:
    reason = exc.strerror or str(exc)
    return SurveyfuseError("output_unwritable", f"cannot write output '{target}': {reason}", path=str(target))


class PendingOutput:
    """A locked temporary file (or folder, ``directory=True``) beside ``target``.

    :meth:`commit` renames it onto the target, :meth:`discard` removes it.
    As a context manager it discards on any exception, KeyboardInterrupt and
    the CLI's SIGTERM included. ``scratch=True`` makes a working folder that
    is only ever discarded (the parts of a file that is joined elsewhere).
    """

    def __init__(self, target: str | os.PathLike, directory: bool = False, scratch: bool = False) -> None:
        self.target = Path(target)
        self.directory = directory or scratch
        self.scratch = scratch
        self.done = False
        self._fd: int | None = None
        if not scratch:
            check_replaceable(self.target, directory)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            sweep(self.target)
            self.path = self.target.parent / f"{temp_prefix(self.target)}{os.getpid()}-{secrets.token_hex(4)}"
            if self.directory:
                self.path.mkdir()
            else:
                self.path.touch(exist_ok=False)
            self._fd = _lock(self.path)
        except OSError as exc:
            raise unwritable(self.target, exc) from None

    def commit(self) -> Path:
        """Rename onto the target, replacing an earlier output of the same kind."""
        assert not self.scratch, "a scratch folder is discarded, never committed"
        try:
            check_replaceable(self.target, self.directory)
            if self.directory and self.target.is_dir():
                _swap_folder(self.path, self.target)
            else:
                os.replace(self.path, self.target)
        except OSError as exc:
            self.discard()
            raise unwritable(self.target, exc) from None
        except BaseException:
            self.discard()
            raise
        self.done = True
        self._release()
        return self.target

    def discard(self) -> None:
        if not self.done:
            _remove(self.path)
            self.done = True
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "PendingOutput":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.discard()


def check_replaceable(target: Path, directory: bool) -> None:
    """Refuse to put an output where something else is: a folder for a file, or a folder of other files."""
    if not target.is_dir():
        if directory and target.exists():
            raise SurveyfuseError(
                "output_unwritable",
                f"output '{target}' is a file; a Parquet dataset output (a name without extension) needs a folder",
                path=str(target),
            )
        return
    if not directory:
        raise SurveyfuseError(
            "output_unwritable", f"output '{target}' is a folder; give a file name or remove the folder", path=str(target)
        )
    try:
        foreign = sorted(p.name for p in target.iterdir() if not _DATASET_PART.match(p.name))
    except OSError as exc:
        raise unwritable(target, exc) from None
    if foreign:
        raise SurveyfuseError(
            "output_unwritable",
            f"output folder '{target}' already holds files surveyfuse did not write (e.g. '{foreign[0]}'); "
            f"choose a new folder, surveyfuse replaces only its own dataset outputs",
            path=str(target),
        )


def sweep(target: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``target`` that no living process holds; returns what was removed."""
    if fcntl is None:  # pragma: no cover - Windows
        return []
    target = Path(target)
    prefix = temp_prefix(target)
    try:
        entries = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return []
    removed = []
    for p in entries:
        if _abandoned(p):
            _remove(p)
            removed.append(p)
    return removed


def _abandoned(path: Path) -> bool:
    if path.is_symlink():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also drops the lock just taken


def _lock(path: Path) -> int | None:
    if fcntl is None:  # pragma: no cover - Windows
        return None
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _swap_folder(src: Path, dst: Path) -> None:
    """Replace folder ``dst`` by ``src``; the old one goes aside (locked) and is removed after."""
    old = dst.parent / f"{temp_prefix(dst)}{os.getpid()}-{secrets.token_hex(4)}-old"
    fd = _lock(dst)
    try:
        os.replace(dst, old)
        os.replace(src, dst)
        _remove(old)
    finally:
        if fd is not None:
            os.close(fd)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass
