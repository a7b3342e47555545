#!/usr/bin/env bash
# Installs Debian's headless-capable `chromium` when /usr/bin/chromium is missing: the
# report's end-to-end test (e2e/tests/report.rs) renders the page in it. Idempotent.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

install_chromium() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

echo "installing chromium ..."
# A fresh machine has no package lists yet, and a stale list may name versions gone by
# now: then the lists are updated and the install tried again.
if ! install_chromium 2>/dev/null; then
  as_root apt-get update -qq
  install_chromium
fi
echo "chromium $(dpkg-query -W -f='${Version}' chromium) installed"
