#!/usr/bin/env bash
# Build the documentation site into out/docs/html: Sphinx with warnings as errors, every
# tutorial executed, then every internal link and image of the built pages checked.
set -euo pipefail
cd "$(dirname "$0")/.."
export R_LIBS="${R_LIBS:-}"
export SURVEYFUSE_PYTHON="$PWD/.venv/bin/python"
export MPLBACKEND=Agg PYDEVD_DISABLE_FILE_VALIDATION=1
rm -rf out/docs docs/_generated docs/jupyter_execute
start=$(date +%s)
.venv/bin/python -m sphinx -W --keep-going -b html -d out/docs/doctrees -q docs out/docs/html
.venv/bin/python tools/check_links.py out/docs/html
echo "docs: built out/docs/html in $(( $(date +%s) - start )) s"
