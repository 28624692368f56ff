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
  timer?: NodeJS.Timeout;
}

/** How long a cancelled notification waits for the server's `end` before it closes anyway (ms). */
const CANCEL_GRACE_MS = 15000;

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
      this.close(key);
    }
  }

  private begin(token: string | number, value: Value): void {
    const key = String(token);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: value.title ?? "parevo", cancellable: value.cancellable ?? false },
      (progress, cancel) => new Promise<void>((resolve) => {
        const open: Open = { report: (v) => progress.report(v), done: resolve, percentage: value.percentage ?? 0 };
        this.open.set(key, open);
        progress.report({ message: value.message, increment: value.percentage });
        cancel.onCancellationRequested(() => {
          void this.client()?.sendNotification(WorkDoneProgressCancelNotification.type, { token });
          // the server ends the progress once its subprocesses are killed; a server that is gone
          // never will: the notification closes after a grace period either way
          open.timer = setTimeout(() => this.close(key), CANCEL_GRACE_MS);
        });
      }),
    );
  }

  private close(key: string): void {
    const p = this.open.get(key);
    if (p) {
      if (p.timer) {
        clearTimeout(p.timer);
      }
      p.done();
      this.open.delete(key);
    }
  }

  /** Close every notification (the server stopped). */
  clear(): void {
    for (const key of [...this.open.keys()]) {
      this.close(key);
    }
  }

  dispose(): void {
    this.clear();
  }
}
