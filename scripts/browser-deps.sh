#!/usr/bin/env bash
# Installs what the browser tests (api/tests/service/browser.rs) need and prints nothing else:
# Debian's chromium and chromium-driver (the driver's package pins the browser's exact version),
# and axe-core from npm (api/tests/browser/package-lock.json) into api/tests/browser/node_modules.
# Run by the tests themselves when something is missing, and by .ci/run; exits 3 when it cannot
# install them (no apt-get, not root and no sudo, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>"${TMPDIR:-/tmp}/dqc-browser-deps.lock"
flock 9
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "browser-deps.sh: installing Debian's chromium and chromium-driver" >&2
    as_root apt-get update -qq >&2 &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-liberation >&2 || true
  fi
  command -v chromedriver >/dev/null ||
    { echo "browser-deps.sh: chromium-driver is not installed and could not be installed" >&2; exit 3; }
fi
if [ ! -f api/tests/browser/node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null || { echo "browser-deps.sh: npm is missing: axe-core cannot be installed" >&2; exit 3; }
  npm ci --prefix api/tests/browser --no-audit --no-fund --loglevel=error >&2 ||
    { echo "browser-deps.sh: npm could not install axe-core" >&2; exit 3; }
fi
