"""The release artefacts install on their own, outside the checkout, and work there.

`make dist` builds the Python wheel and sdist and the R source tarball (which
carries the wheel); `make test` passes their folder as SURVEYFUSE_DIST. Run
alone, this test builds them into a temporary folder first.

Offline-friendly and quick: each fresh virtual environment sees the
dependencies already installed for the project through a ``.pth`` line (a
plain path, so the checkout's editable install is *not* visible), and the
surveyfuse package itself is installed from the artefact with ``--no-deps``.
Every check asserts that surveyfuse was imported from the new install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VERSION = (REPO / "VERSION").read_text().strip()
SITE = sysconfig.get_paths()["purelib"]  # the project environment's dependencies


def _env() -> dict[str, str]:
    """A child environment that knows nothing of the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "SURVEYFUSE_PYTHON", "SURVEYFUSE_ENV", "R_LIBS", "R_LIBS_USER", "LD_LIBRARY_PATH",
                        "VIRTUAL_ENV", "SURVEYFUSE_REPO")}
    env["R_LIBS_USER"] = "/nonexistent"
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def _fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], path).strip())
    (site / "project_dependencies.pth").write_text(SITE + "\n")
    return python


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    given = os.environ.get("SURVEYFUSE_DIST")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "SURVEYFUSE_PYTHON": sys.executable, "PY": sys.executable}
    _run(["bash", str(REPO / "tools" / "build_dist.sh"), str(out)], REPO, env=env, timeout=600)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder outside the repository with a spec and its data."""
    work = tmp_path_factory.mktemp("outside")
    assert REPO not in work.parents
    data = REPO / "shared-specs" / "data"
    for name in ("cps_donor.parquet", "cps_recipient.parquet"):
        shutil.copy(data / name, work / name)
    spec = {"spec_version": 1, "donor": "cps_donor.parquet", "recipient": "cps_recipient.parquet",
            "predictors": ["age_head", "MARS", "e00200"], "block": ["e00600", "e00650"], "categorical": ["MARS"],
            "constraints": ["e00650 <= e00600"], "method": "hotdeck", "draws": 2, "seed": 3,
            "include_original": True, "output": "imputed.dta"}
    (work / "task.json").write_text(json.dumps(spec))
    return work


def test_artefacts_have_the_one_version(dist):
    assert (dist / f"surveyfuse-{VERSION}-py3-none-any.whl").is_file()
    assert (dist / f"surveyfuse-{VERSION}.tar.gz").is_file()
    assert (dist / f"surveyfuse_{VERSION}.tar.gz").is_file()


def test_wheel_installs_and_surveyfuse_run_works_outside_the_checkout(dist, workdir, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
          str(dist / f"surveyfuse-{VERSION}-py3-none-any.whl")], workdir)
    where = _run([str(python), "-c", "import surveyfuse; print(surveyfuse.__file__, surveyfuse.__version__)"], workdir)
    path, version = where.split()
    assert Path(path).is_relative_to(tmp_path / "venv") and version == VERSION
    _run([str(tmp_path / "venv" / "bin" / "surveyfuse"), "run", "task.json", "--quiet"], workdir)
    import pandas as pd

    out = pd.read_stata(workdir / "imputed.dta")
    n = len(pd.read_parquet(workdir / "cps_recipient.parquet"))
    assert out["_imp"].value_counts().sort_index().to_dict() == {0: n, 1: n, 2: n}


def test_sdist_builds_and_installs_outside_the_checkout(dist, workdir, tmp_path):
    target = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
          "--target", str(target), str(dist / f"surveyfuse-{VERSION}.tar.gz")], workdir)
    env = {**_env(), "PYTHONPATH": str(target)}
    out = _run([sys.executable, "-c", "import surveyfuse, surveyfuse.pipeline.spec as s; print(surveyfuse.__file__); "
                "print(len(s.task_schema()['properties']))"], workdir, env=env)
    path, fields = out.split()
    assert Path(path).is_relative_to(target) and int(fields) > 10  # the schema ships as a file, not a link


@pytest.mark.skipif(shutil.which("R") is None, reason="R is not installed")
def test_r_tarball_installs_and_fuse_impute_works_outside_the_checkout(dist, workdir, tmp_path):
    lib = tmp_path / "rlib"
    lib.mkdir()
    env = _env()
    _run(["R", "CMD", "INSTALL", "--no-test-load", "-l", str(lib), str(dist / f"surveyfuse_{VERSION}.tar.gz")],
         workdir, env=env)
    pyenv = tmp_path / "rpython"
    _fresh_venv(pyenv)  # with the project's dependencies visible; install_surveyfuse() adds the core
    script = workdir / "use.R"
    script.write_text(textwrap.dedent("""
        library(surveyfuse)
        stopifnot(startsWith(find.package("surveyfuse"), Sys.getenv("R_LIBS")))
        install_surveyfuse(pip_options = c("--no-deps", "--no-index"))
        stopifnot(identical(fuse_python(), file.path(Sys.getenv("SURVEYFUSE_ENV"), "bin", "python")))
        stopifnot(fuse_python_available())
        core <- reticulate::import("surveyfuse")
        stopifnot(startsWith(normalizePath(core$`__file__`), normalizePath(Sys.getenv("SURVEYFUSE_ENV"))))
        donor <- fuse_read("cps_donor.parquet")
        recipient <- fuse_read("cps_recipient.parquet")[1:200, c("age_head", "MARS", "e00200")]
        long <- fuse_impute(donor, recipient, block = c(e00600, e00650), predictors = c(age_head, MARS, e00200),
                            categorical = MARS, method = "hotdeck", m = 2, seed = 1, include = TRUE,
                            constraints = "e00650 <= e00600")
        fuse_write(long, "from_r.dta")
        cat("counts", table(long$.imp), "\\n")
    """))
    env = {**env, "R_LIBS": str(lib), "SURVEYFUSE_ENV": str(pyenv)}
    out = _run(["Rscript", str(script)], workdir, env=env)
    assert "counts 200 200 200" in out
    import pandas as pd

    assert pd.read_stata(workdir / "from_r.dta")["_imp"].value_counts().to_dict() == {0: 200, 1: 200, 2: 200}
