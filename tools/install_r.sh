#!/usr/bin/env bash
# Install Debian's R packages (when missing) and the surveyfuse R package, so a plain Rscript finds it.
set -euo pipefail
debs="$1"
missing=$(Rscript -e 'p <- c("reticulate","testthat","tibble","dplyr","rlang","cli","jsonlite","tidyselect","mice","haven","vctrs","pillar","knitr","rmarkdown"); cat(p[!vapply(p, requireNamespace, logical(1), quietly=TRUE)])' 2>/dev/null || echo "R")
command -v pandoc >/dev/null || missing="$missing pandoc"
if [ -n "$missing" ]; then
  echo "installing R from Debian's packages (missing: $missing)"
  if [ "$(id -u)" != 0 ]; then echo "error: need root to apt-get install: $debs" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq $debs >/dev/null
fi
if [ -f r-package/DESCRIPTION ]; then
  bash tools/build_r.sh
fi
