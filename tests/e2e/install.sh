#!/bin/sh
# Installs what the browser tests (tests/e2e) need on a fresh Debian machine:
# Debian's Chromium (Playwright drives it; `playwright install` cannot download browsers here)
# and axe-core, pinned in package.json / package-lock.json, into tests/e2e/node_modules.
# Run as root (or with sudo available). Idempotent.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
else
    sudo="sudo"
fi

if [ ! -x /usr/bin/chromium ]; then
    $sudo apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium fonts-dejavu-core
fi

if [ ! -f "$here/node_modules/axe-core/axe.min.js" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        $sudo apt-get -o DPkg::Lock::Timeout=600 update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends nodejs npm
    fi
    (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts)
fi

/usr/bin/chromium --version 2>/dev/null || true
echo "axe-core: $(node -p "require('$here/node_modules/axe-core/package.json').version" 2>/dev/null || echo installed)"
