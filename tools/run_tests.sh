#!/usr/bin/env bash
# Run every suite (Python, then R), then print one line: "N passed, N failed".
set -uo pipefail
mkdir -p out/test-results
rm -f out/test-results/*.xml
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=out/test-results/python.xml python/tests tests
py_rc=$?
r_rc=0
if [ -f r-package/DESCRIPTION ]; then
  SURVEYFUSE_PYTHON="$PWD/.venv/bin/python" Rscript tools/run_r_tests.R out/test-results/r.xml
  r_rc=$?
fi
.venv/bin/python tools/summarize_tests.py out/test-results/*.xml
sum_rc=$?
if [ $py_rc -ne 0 ] || [ $r_rc -ne 0 ] || [ $sum_rc -ne 0 ]; then exit 1; fi
