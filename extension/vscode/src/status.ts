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
  private lastTimer: NodeJS.Timeout | undefined;

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
        this.showLast(`${s.title}: ${value.message ?? "ended"}`);
      }
    }
    this.render();
  }

  /** Show a finished search's outcome in the tooltip and, for a while, the text. */
  private showLast(text: string): void {
    this.lastResult = text;
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
      const last = this.lastTimer && this.lastResult ? `: ${shorten(lastPart(this.lastResult), 48)}` : "";
      it.text = `$(check) parevo${last}`;
      it.tooltip = (this.lastResult ? `${this.lastResult}\n\n` : "parevo is ready.\n") +
        "Click to show the report of the loop at the cursor.";
    }
  }

  dispose(): void {
    if (this.lastTimer) {
      clearTimeout(this.lastTimer);
    }
    this.item.dispose();
  }
}

function shorten(text: string, n: number): string {
  return text.length <= n ? text : text.slice(0, n - 1) + "…";
}

/** "parevo: Parallelize with ParlayLib (f, line 8): 1.84x faster ..." → the part after the title. */
function lastPart(text: string): string {
  const i = text.lastIndexOf("): ");
  return i >= 0 ? text.slice(i + 3) : text;
}
