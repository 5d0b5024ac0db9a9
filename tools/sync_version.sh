#!/usr/bin/env bash
# VERSION is the one version of both packages: write it into the Python
# package (_version.py) and the R package (DESCRIPTION) where they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(tr -d '[:space:]' < VERSION)
py=python/src/surveyfuse/_version.py
grep -q "^__version__ = \"$ver\"$" "$py" || sed -i "s/^__version__ = .*/__version__ = \"$ver\"/" "$py"
desc=$(sed -n 's/^Version: //p' r-package/DESCRIPTION)
[ "$ver" = "$desc" ] || sed -i "s/^Version: .*/Version: $ver/" r-package/DESCRIPTION
