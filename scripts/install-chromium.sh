#!/usr/bin/env bash
# Installs Debian's Chromium, which the browser tests drive through playwright-core. Playwright's
# own browser downloads come from a CDN outside the npm registry, so the tests use the
# distribution's package instead. Does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  run_as_root=()
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
  run_as_root=(sudo -n)
else
  echo "Chromium is missing: run 'apt-get install chromium' as root, then the tests again" >&2
  exit 1
fi

echo "Installing Debian's chromium package for the browser tests"
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be missing or stale; refresh them only when needed.
if ! "${run_as_root[@]}" apt-get install -y --no-install-recommends chromium; then
  "${run_as_root[@]}" apt-get update
  "${run_as_root[@]}" apt-get install -y --no-install-recommends chromium
fi
