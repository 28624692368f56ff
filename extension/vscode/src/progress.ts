// The server's work-done progress as a cancellable notification.
// vscode-languageclient would show it in the status bar only (ProgressLocation.Window,
// no Cancel button); a search takes minutes, so parevo shows a notification whose
// Cancel sends window/workDoneProgress/cancel (the server then kills the search).
import * as vscode from "vscode";
import { LanguageClient, WorkDoneProgressCancelNotification } from "vscode-languageclient/node";

type Value = { kind: string; title?: string; message?: string; percentage?: number; cancellable?: boolean };

interface Open {
  report: (v: { message?: string; increment?: number }) => void;
  done: () => void;
  percentage: number;
}

export class ProgressNotifications implements vscode.Disposable {
  private readonly open = new Map<string, Open>();

  constructor(private readonly client: () => LanguageClient | undefined) {}

  handle(token: string | number, value: Value): void {
    const key = String(token);
    if (value.kind === "begin") {
      this.begin(token, value);
    } else if (value.kind === "report") {
      const p = this.open.get(key);
      if (p) {
        const increment = value.percentage !== undefined ? Math.max(0, value.percentage - p.percentage) : undefined;
        p.percentage = value.percentage ?? p.percentage;
        p.report({ message: value.message, increment });
      }
    } else if (value.kind === "end") {
      this.open.get(key)?.done();
      this.open.delete(key);
    }
  }

  private begin(token: string | number, value: Value): void {
    const key = String(token);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: value.title ?? "parevo", cancellable: value.cancellable ?? false },
      (progress, cancel) => new Promise<void>((resolve) => {
        this.open.set(key, { report: (v) => progress.report(v), done: resolve, percentage: value.percentage ?? 0 });
        progress.report({ message: value.message, increment: value.percentage });
        cancel.onCancellationRequested(() => {
          void this.client()?.sendNotification(WorkDoneProgressCancelNotification.type, { token });
        });
      }),
    );
  }

  /** Close every notification (the server stopped). */
  clear(): void {
    for (const p of this.open.values()) {
      p.done();
    }
    this.open.clear();
  }

  dispose(): void {
    this.clear();
  }
}
