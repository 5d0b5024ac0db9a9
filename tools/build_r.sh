#!/usr/bin/env bash
# Copy the shared specs and version into the R package, then install it into the site library.
set -euo pipefail
rm -rf r-package/inst/specs
mkdir -p r-package/inst/specs
cp -r shared-specs/. r-package/inst/specs/
R CMD INSTALL --no-multiarch --no-test-load r-package >/tmp/surveyfuse-r-install.log 2>&1 || { cat /tmp/surveyfuse-r-install.log; exit 1; }
