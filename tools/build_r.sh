#!/usr/bin/env bash
# Prepare the R package (shared specs, the one version) and install it into
# the first library of R_LIBS (or the site library), so a plain Rscript finds
# it. Nothing about this checkout is recorded: R finds Python through
# SURVEYFUSE_PYTHON or the environment install_surveyfuse() makes.
# With a wheel as argument, the package also carries it (inst/python) for
# install_surveyfuse() to install: that is what `make dist` ships.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/sync_version.sh
rm -rf r-package/inst/specs r-package/inst/python r-package/inst/python_path  # python_path: what older installs recorded
mkdir -p r-package/inst/specs
cp -r shared-specs/. r-package/inst/specs/
if [ "${1:-}" != "" ]; then
  mkdir -p r-package/inst/python
  cp "$1" r-package/inst/python/
fi
if [ "${SURVEYFUSE_R_PREPARE_ONLY:-}" = 1 ]; then exit 0; fi
R CMD INSTALL --no-multiarch --no-test-load r-package >/tmp/surveyfuse-r-install.log 2>&1 || { cat /tmp/surveyfuse-r-install.log; exit 1; }
