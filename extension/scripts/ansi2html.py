"""Render a terminal capture (``tmux capture-pane -e -p``: text with SGR escapes) as HTML.

Used by nvim-screenshot.sh; Chromium then turns the page into a PNG.
Handles the SGR codes tmux emits: bold/italic/underline/reverse, the 16
colours, 256-colour (``38;5;n``) and true colour (``38;2;r;g;b``).

    python ansi2html.py capture.txt out.html [--bg #1e1e2e --fg #e0e2ea]
"""

from __future__ import annotations

import argparse
import html
import re

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
BASE16 = ["#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
          "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]


def color256(n: int) -> str:
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (v, v, v)


class Style:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.fg = self.bg = None
        self.bold = self.italic = self.underline = self.reverse = False

    def apply(self, params: str) -> None:
        codes = [int(c) if c else 0 for c in re.split("[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 3:
                self.italic = True
            elif c in (4, 21):
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = False
            elif c == 23:
                self.italic = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = BASE16[c - 30]
            elif 90 <= c <= 97:
                self.fg = BASE16[c - 90 + 8]
            elif 40 <= c <= 47:
                self.bg = BASE16[c - 40]
            elif 100 <= c <= 107:
                self.bg = BASE16[c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48, 58) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    value, i = color256(codes[i + 2]), i + 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    value, i = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5]), i + 4
                else:
                    value = None
                if c == 38:
                    self.fg = value
                elif c == 48:
                    self.bg = value
            i += 1

    def css(self, fg0: str, bg0: str) -> str:
        fg, bg = self.fg or fg0, self.bg or bg0
        if self.reverse:
            fg, bg = bg, fg
        out = [f"color:{fg}", f"background:{bg}"]
        if self.bold:
            out.append("font-weight:bold")
        if self.italic:
            out.append("font-style:italic")
        if self.underline:
            out.append("text-decoration:underline")
        return ";".join(out)


def render(text: str, fg: str, bg: str, font_px: int = 15) -> str:
    style = Style()
    rows = []
    for line in text.rstrip("\n").split("\n"):
        line = OTHER_ESC.sub("", line)
        spans, pos = [], 0
        for m in SGR.finditer(line):
            if m.start() > pos:
                spans.append(f'<span style="{style.css(fg, bg)}">{html.escape(line[pos:m.start()])}</span>')
            style.apply(m.group(1))
            pos = m.end()
        if pos < len(line):
            spans.append(f'<span style="{style.css(fg, bg)}">{html.escape(line[pos:])}</span>')
        rows.append("".join(spans))
    body = "\n".join(rows)
    return (f"<!doctype html><meta charset=utf-8><style>body{{margin:0;background:{bg}}}"
            f"pre{{margin:0;padding:10px;font:{font_px}px/1.3 'DejaVu Sans Mono',monospace;color:{fg}}}</style>"
            f"<pre>{body}</pre>")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("capture")
    p.add_argument("out")
    p.add_argument("--fg", default="#e0e2ea")
    p.add_argument("--bg", default="#14161b")
    a = p.parse_args()
    with open(a.capture, encoding="utf-8", errors="replace") as f:
        text = f.read()
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(render(text, a.fg, a.bg))


if __name__ == "__main__":
    main()
