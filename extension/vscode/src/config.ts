// Reading the `parevo.*` settings: how to launch the server, and what the
// server itself reads (everything except the client-only `server` and `trace`).
import * as vscode from "vscode";

export const SECTION = "parevo";
/** Keys of the `parevo` section that only this client reads. */
const CLIENT_ONLY = ["server", "trace"];

export interface ServerLaunch {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** The command line, for messages. */
  describe: string;
}

/** `<python> -m parevo.server.lsp` when `parevo.server.pythonPath` is set, else `<parevo.server.path> serve`. */
export function serverLaunch(cfg = vscode.workspace.getConfiguration(SECTION)): ServerLaunch {
  const extra = cfg.get<Record<string, string>>("server.env") ?? {};
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  const python = (cfg.get<string>("server.pythonPath") ?? "").trim();
  if (python) {
    return { command: python, args: ["-m", "parevo.server.lsp"], env, describe: `${python} -m parevo.server.lsp` };
  }
  const exe = (cfg.get<string>("server.path") ?? "").trim() || "parevo";
  return { command: exe, args: ["serve"], env, describe: `${exe} serve` };
}

/**
 * The server's settings: the `parevo` section as plain JSON, without the client-only keys.
 * Fields left empty in the Settings editor ("" paths, `threads` 0) mean "discover / all cores": they are
 * not sent, so the server's defaults apply.
 */
export function serverSettings(value?: unknown): Record<string, unknown> {
  const raw = value ?? vscode.workspace.getConfiguration(SECTION);
  // a WorkspaceConfiguration enumerates its values; JSON drops its methods
  const plain = JSON.parse(JSON.stringify(raw ?? {})) as Record<string, unknown>;
  for (const key of CLIENT_ONLY) {
    delete plain[key];
  }
  return withoutUnset(plain);
}

/** `settings` without empty strings, nulls and a zero `threads` (recursively, except inside `eval`). */
export function withoutUnset(settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(settings)) {
    if (v === null || v === undefined || (typeof v === "string" && v.trim() === "") || (key === "threads" && v === 0)) {
      continue;
    }
    out[key] = typeof v === "object" && !Array.isArray(v) && key !== "eval" ? withoutUnset(v as Record<string, unknown>) : v;
  }
  return out;
}

/** True when a configuration change needs a new server process (launch settings). */
export function needsRestart(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration(`${SECTION}.server`);
}
