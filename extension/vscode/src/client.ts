// Owns the LanguageClient: starts `parevo serve`, restarts it when the launch
// settings change, feeds the status bar, and explains failures.
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  ServerOptions,
  ShowMessageNotification,
  ShowMessageParams,
  State,
} from "vscode-languageclient/node";
import { SECTION, needsRestart, serverLaunch, serverSettings } from "./config";
import { ProgressNotifications } from "./progress";
import { StatusBar } from "./status";

/** What `parevo.status` returns (see server/lsp.py). */
interface ServerStatus {
  toolchainProblem: string | null;
  toolchainReady: boolean;
  jobs: { key: string; kind: string; state: string; token: string | null }[];
}

export const DOCUMENT_SELECTOR = [
  { scheme: "file", language: "c" },
  { scheme: "file", language: "cpp" },
  { scheme: "file", language: "cuda-cpp" },
];

export class Controller implements vscode.Disposable {
  client: LanguageClient | undefined;
  readonly status = new StatusBar();
  readonly output = vscode.window.createOutputChannel("parevo", { log: true });
  private readonly notifications = new ProgressNotifications(() => this.client);
  private readonly subscriptions: vscode.Disposable[] = [];
  private toolchainShown: string | undefined;

  constructor() {
    this.subscriptions.push(this.status, this.output, this.notifications, vscode.workspace.onDidChangeConfiguration((e) => {
      if (needsRestart(e)) {
        void this.restart();
      } else if (e.affectsConfiguration(SECTION)) {
        // the client forwards the change (synchronize.configurationSection); the
        // server then rediscovers the toolchain: look at it again
        void this.checkToolchain();
      }
    }));
  }

  /** Start the server; on failure, say why and what to do (never throws). */
  async start(): Promise<void> {
    const launch = serverLaunch();
    const serverOptions: ServerOptions = {
      // no `transport`: stdio is the default, and TransportKind.stdio would append --stdio
      command: launch.command,
      args: launch.args,
      options: { env: launch.env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: this.output,
      initializationOptions: () => serverSettings(),
      synchronize: { configurationSection: SECTION },
      initializationFailedHandler: () => false,
      middleware: {
        // the notification (with Cancel) and the status item replace the client's
        // own status-bar progress: it only gets `end`, to clean up its listener
        handleWorkDoneProgress: (token, params, next) => {
          this.status.progress(token, params);
          this.notifications.handle(token, params);
          if (params.kind === "end") {
            next(token, params);
          }
        },
        workspace: {
          // the server's own settings only (not the client's launch settings)
          configuration: async (params, token, next) => {
            const values = await next(params, token);
            if (!Array.isArray(values)) {
              return values;
            }
            return values.map((v, i) => (params.items[i]?.section === SECTION ? serverSettings(v) : v));
          },
        },
      },
    };
    const client = new LanguageClient("parevo", "parevo", serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((e) => {
      if (client !== this.client) {
        return;
      }
      if (e.newState === State.Running) {
        this.status.setState("ready");
      } else if (e.newState === State.Starting) {
        this.status.setState("starting");
      } else if (e.newState === State.StartFailed) {
        this.status.setState("failed", launch.describe);
      } else {
        this.status.setState("stopped");
        this.notifications.clear();
      }
    });
    this.status.setState("starting");
    try {
      await client.start();
    } catch (err) {
      if (client === this.client) {
        this.status.setState("failed", `${launch.describe}: ${errorText(err)}`);
        void this.explainStartFailure(launch.describe, err);
      }
      return;
    }
    this.status.setState("ready");
    // the server's own messages: warnings and errors as notifications; information (e.g. "a search is
    // already running") in the status bar for a while, so no stale toast outlives what it said
    client.onNotification(ShowMessageNotification.type, (p) => this.showServerMessage(p));
    void this.checkToolchain();
  }

  private showServerMessage(p: ShowMessageParams): void {
    this.output.appendLine(`[server] ${p.message}`);
    if (p.type === MessageType.Error) {
      void vscode.window.showErrorMessage(p.message);
    } else if (p.type === MessageType.Warning) {
      void vscode.window.showWarningMessage(p.message);
    } else {
      this.status.flash(p.message);
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(5000);
      } catch {
        // already stopped or never started
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    this.toolchainShown = undefined;
    this.status.setToolchainProblem(undefined);
    await this.start();
  }

  /** The running client, or a message saying the server is not running. */
  running(): LanguageClient | undefined {
    const c = this.client;
    if (c && c.state === State.Running) {
      return c;
    }
    void vscode.window.showWarningMessage("parevo: the language server is not running.", "Restart", "Show Output")
      .then((pick) => this.onPick(pick));
    return undefined;
  }

  /** Run one of the server's commands (`parevo.parallelize`, `parevo.cancel`, ...). */
  async serverCommand<T>(command: string, args: unknown[]): Promise<T> {
    const c = this.client;
    if (!c) {
      throw new Error("the parevo language server is not running");
    }
    return (await c.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  }

  /** Ask the server whether it found a compiler and ParlayLib; show the problem once, with what to do. */
  async checkToolchain(): Promise<void> {
    const started = Date.now();
    while (Date.now() - started < 120000) {
      if (!this.client || this.client.state !== State.Running) {
        return;
      }
      let st: ServerStatus;
      try {
        st = await this.serverCommand<ServerStatus>("parevo.status", []);
      } catch {
        return;
      }
      if (st.toolchainReady) {
        const problem = st.toolchainProblem ?? undefined;
        this.status.setToolchainProblem(problem);
        if (problem && problem !== this.toolchainShown) {
          this.toolchainShown = problem;
          const pick = await vscode.window.showErrorMessage(
            `parevo: ${problem}. Set "parevo.compiler" and "parevo.parlayInclude", or run \`parevo doctor\` to see what is missing.`,
            "Open Settings", "Run parevo doctor");
          await this.onPick(pick);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private async explainStartFailure(describe: string, err: unknown): Promise<void> {
    const pick = await vscode.window.showErrorMessage(
      `parevo: the language server (${describe}) did not start: ${errorText(err)}. ` +
      `Install parevo (\`pip install parevo\`) or point "parevo.server.path" at the parevo executable ` +
      `(or "parevo.server.pythonPath" at a Python that has it), then restart the server.`,
      "Open Settings", "Show Output", "Restart");
    await this.onPick(pick);
  }

  private async onPick(pick: string | undefined): Promise<void> {
    if (pick === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "@ext:parevo.parevo");
    } else if (pick === "Show Output") {
      this.output.show();
    } else if (pick === "Restart") {
      await this.restart();
    } else if (pick === "Run parevo doctor") {
      const launch = serverLaunch();
      const term = vscode.window.createTerminal({ name: "parevo doctor", env: launch.env as Record<string, string> });
      term.show();
      const cmd = launch.args[0] === "-m" ? `${quote(launch.command)} -m parevo.server.cli doctor` : `${quote(launch.command)} doctor`;
      term.sendText(cmd);
    }
  }

  dispose(): void {
    void this.stop();
    for (const d of this.subscriptions) {
      d.dispose();
    }
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}

function quote(s: string): string {
  return /^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
