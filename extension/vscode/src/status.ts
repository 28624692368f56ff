// The status bar item: server state, toolchain problem, and the running search
// (fed from the server's work-done progress). Clicking it shows the report of
// the loop under the cursor (or the output when the server is down).
import * as vscode from "vscode";

type ServerState = "starting" | "ready" | "stopped" | "failed";

interface Search {
  title: string;
  message?: string;
  percentage?: number;
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: ServerState = "starting";
  private detail = "";
  private toolchainProblem: string | undefined;
  private readonly searches = new Map<string, Search>();
  private lastResult: string | undefined;
  /** The last outcome as the status bar shows it: one sentence, short. */
  private lastOutcome: string | undefined;
  private lastTimer: NodeJS.Timeout | undefined;
  private flashed: vscode.Disposable | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem("parevo.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "parevo";
    this.render();
    this.item.show();
  }

  setState(state: ServerState, detail = ""): void {
    this.state = state;
    this.detail = detail;
    if (state !== "ready") {
      this.searches.clear();
    }
    this.render();
  }

  setToolchainProblem(problem: string | undefined): void {
    this.toolchainProblem = problem ?? undefined;
    this.render();
  }

  /** Show an informational server message in the status bar for a few seconds (no toast to dismiss). */
  flash(message: string): void {
    this.flashed?.dispose();
    this.flashed = vscode.window.setStatusBarMessage(`$(info) ${sentence(message, 90)}`, 8000);
  }

  /** A `$/progress` value of token `token` (begin / report / end). */
  progress(token: string | number, value: { kind: string; title?: string; message?: string; percentage?: number }): void {
    const key = String(token);
    if (value.kind === "begin") {
      this.searches.set(key, { title: value.title ?? "parevo", message: value.message, percentage: value.percentage });
    } else if (value.kind === "report") {
      const s = this.searches.get(key);
      if (s) {
        s.message = value.message ?? s.message;
        s.percentage = value.percentage ?? s.percentage;
      }
    } else if (value.kind === "end") {
      const s = this.searches.get(key);
      this.searches.delete(key);
      if (s) {
        this.showLast(`${s.title}: ${value.message ?? "ended"}`, value.message ?? "ended");
      }
    }
    this.render();
  }

  /** Show a finished search's outcome in the tooltip and, for a while, its sentence in the text. */
  private showLast(text: string, message: string): void {
    this.lastResult = text;
    this.lastOutcome = sentence(message, 90);
    if (this.lastTimer) {
      clearTimeout(this.lastTimer);
    }
    this.lastTimer = setTimeout(() => {
      this.lastTimer = undefined;
      this.render();
    }, 15000);
  }

  private render(): void {
    const it = this.item;
    it.backgroundColor = undefined;
    it.command = "parevo.showReport";
    const running = [...this.searches.values()];
    if (this.state === "failed") {
      it.text = "$(error) parevo";
      it.tooltip = `parevo: the language server is not running: ${this.detail}\nClick to show its output.`;
      it.command = "parevo.showOutput";
      it.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
    } else if (this.state === "stopped") {
      it.text = "$(debug-disconnect) parevo";
      it.tooltip = "parevo: the language server stopped. Click to restart it.";
      it.command = "parevo.restartServer";
    } else if (this.state === "starting") {
      it.text = "$(loading~spin) parevo";
      it.tooltip = "parevo: starting the language server";
    } else if (running.length > 0) {
      const s = running[0];
      const pct = s.percentage !== undefined ? ` ${s.percentage}%` : "";
      const more = running.length > 1 ? ` (+${running.length - 1})` : "";
      it.text = `$(sync~spin) parevo${pct}: ${shorten(s.message ?? "searching", 48)}${more}`;
      it.tooltip = running.map((r) => `${r.title}\n${r.message ?? ""}`).join("\n\n") +
        "\n\nClick to show the report of the loop at the cursor.";
    } else if (this.toolchainProblem) {
      it.text = "$(warning) parevo";
      it.tooltip = `parevo: ${this.toolchainProblem}\nSet parevo.compiler / parevo.parlayInclude, or run \`parevo doctor\`.`;
      it.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
    } else {
      const last = this.lastTimer && this.lastOutcome ? `: ${this.lastOutcome}` : "";
      it.text = `$(check) parevo${last}`;
      it.tooltip = (this.lastResult ? `${this.lastResult}\n\n` : "parevo is ready.\n") +
        "Click to show the report of the loop at the cursor.";
    }
  }

  dispose(): void {
    this.flashed?.dispose();
    if (this.lastTimer) {
      clearTimeout(this.lastTimer);
    }
    this.item.dispose();
  }
}

function shorten(text: string, n: number): string {
  return text.length <= n ? text : text.slice(0, n - 1) + "…";
}

/**
 * The first sentence of a server message, for the status bar: its trailing parenthesis (how it was
 * measured) dropped; when still longer than `n` characters, its headline (the part before the first ": ",
 * e.g. "ThreadSanitizer found a data race on `s` in f"), else cut at a word. Never a fragment of a path:
 * the server's messages name lines, not files.
 */
export function sentence(message: string, n: number): string {
  let text = message.split("\n")[0].trim();
  const dot = text.search(/\.(\s|$)/);
  if (dot > 0) {
    text = text.slice(0, dot);
  }
  const paren = text.lastIndexOf(" (");
  if (paren > 20 && text.endsWith(")")) {
    text = text.slice(0, paren);
  }
  if (text.length <= n) {
    return text;
  }
  const colon = text.indexOf(": ");
  if (colon > 15 && colon <= n) {
    return text.slice(0, colon);
  }
  const cut = text.lastIndexOf(" ", n - 1);
  return text.slice(0, cut > n / 2 ? cut : n - 1) + "…";
}
