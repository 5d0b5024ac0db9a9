#!/usr/bin/env bash
# Install Debian's headless Chromium, its WebDriver and a font (when missing), for the browser tests
# of the HTML report and the notebook widget. Nothing is downloaded at test time.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  exit 0
fi
debs="chromium chromium-driver fonts-dejavu-core"
echo "installing a headless browser from Debian's packages: $debs"
if [ "$(id -u)" != 0 ]; then echo "error: need root to apt-get install: $debs" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq $debs >/dev/null
