#!/usr/bin/env bash
# Copy the shared specs and version into the R package, record the project's
# Python, then install the package into the site library (a plain Rscript finds it).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf r-package/inst/specs
mkdir -p r-package/inst/specs
cp -r shared-specs/. r-package/inst/specs/
# the installed package finds the project's Python through this file (SURVEYFUSE_PYTHON overrides it)
py="$PWD/.venv/bin/python"
if [ -x "$py" ]; then echo "$py" > r-package/inst/python_path; else rm -f r-package/inst/python_path; fi
ver=$(cat VERSION)
desc=$(sed -n 's/^Version: //p' r-package/DESCRIPTION)
if [ "$ver" != "$desc" ]; then
  sed -i "s/^Version: .*/Version: $ver/" r-package/DESCRIPTION
fi
R CMD INSTALL --no-multiarch --no-test-load r-package >/tmp/surveyfuse-r-install.log 2>&1 || { cat /tmp/surveyfuse-r-install.log; exit 1; }
