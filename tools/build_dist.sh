#!/usr/bin/env bash
# Build the release artefacts into DIR (default dist/): the Python sdist and
# wheel (the wheel built from the sdist, so the sdist is complete), and the R
# source tarball, which carries the wheel for install_surveyfuse(). The R
# vignette is built with the Python named by SURVEYFUSE_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
py=${PY:-$root/.venv/bin/python}
bash tools/sync_version.sh
ver=$(tr -d '[:space:]' < VERSION)
rm -f "$out"/surveyfuse-"$ver"* "$out"/surveyfuse_"$ver".tar.gz
"$py" -m build --no-isolation --outdir "$out" python >/tmp/surveyfuse-build.log 2>&1 || { cat /tmp/surveyfuse-build.log; exit 1; }
rm -rf python/build python/src/surveyfuse.egg-info/SOURCES.txt.bak
SURVEYFUSE_R_PREPARE_ONLY=1 bash tools/build_r.sh "$out/surveyfuse-$ver-py3-none-any.whl"
(cd "$out" && R CMD build --no-manual "$root/r-package" >/tmp/surveyfuse-rbuild.log 2>&1) || { cat /tmp/surveyfuse-rbuild.log; exit 1; }
rm -rf r-package/inst/python
ls "$out"/surveyfuse-"$ver"-py3-none-any.whl "$out"/surveyfuse-"$ver".tar.gz "$out"/surveyfuse_"$ver".tar.gz
