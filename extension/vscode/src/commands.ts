// The palette commands. Each one forwards to the server (executeCommand,
// codeAction, hover); none of them looks at C++ itself.
import * as path from "path";
import * as vscode from "vscode";
import * as proto from "vscode-languageclient/node";
import { Controller, errorText } from "./client";
import { RewriteDocuments, REWRITE_SCHEME, applyToText, fetchRewrite } from "./rewrite";

const REPORT_SCHEME = "parevo-report";

/** What `parevo.loopStatus` returns (see server/lsp.py). */
interface LoopStatus {
  state: string;
  message: string;
}
const C_LANGUAGES = new Set(["c", "cpp", "cuda-cpp"]);

/** The active C/C++ editor, or a message saying one is needed. */
function cppEditor(): vscode.TextEditor | undefined {
  const ed = vscode.window.activeTextEditor;
  if (ed && ed.document.uri.scheme === "file" && C_LANGUAGES.has(ed.document.languageId)) {
    return ed;
  }
  void vscode.window.showInformationMessage("parevo: put the cursor on a loop in a C or C++ file first.");
  return undefined;
}

/** `[line, endLine]` of the selection, as the server reads it (0-based; a whole-line selection ends before column 0). */
function selectedLines(ed: vscode.TextEditor): [number, number | null] {
  const s = ed.selection;
  let end = s.end.line;
  if (end > s.start.line && s.end.character === 0) {
    end -= 1;
  }
  return [s.start.line, end > s.start.line ? end : null];
}

export function registerCommands(ctl: Controller): vscode.Disposable[] {
  const rewrites = new RewriteDocuments();
  const reports = new Map<string, string>();
  const reportProvider: vscode.TextDocumentContentProvider = {
    provideTextDocumentContent: (uri) => reports.get(uri.toString()) ?? "",
  };

  /** Say why the loop at the cursor has no report / verified rewrite: never searched, searching, searched
   * without a verified rewrite, not parallelizable, racy, stale (the server's `parevo.loopStatus`). */
  async function explainMissing(ed: vscode.TextEditor, what: "report" | "rewrite"): Promise<void> {
    const [line, end] = selectedLines(ed);
    const client = ctl.client;
    const uri = client ? client.code2ProtocolConverter.asUri(ed.document.uri) : ed.document.uri.toString();
    const st = await ctl.serverCommand<LoopStatus>("parevo.loopStatus", [uri, line, end])
      .catch((): LoopStatus => ({ state: "never-run", message: "" }));
    const run = "Run \"parevo: Parallelize the Loop at the Cursor\"";
    const text: Record<string, string> = {
      "no-loop": `parevo: there is no loop at the cursor (${st.message}).`,
      "never-run": `parevo has not searched this loop yet. ${run} to search for a verified rewrite.`,
      queued: "parevo: the search of this loop is queued; its result appears when it ends.",
      running: "parevo: the search of this loop is running; its result appears when it ends.",
      "none-verified": `parevo searched this loop and verified no rewrite: ${st.message}. The report says why for ` +
        "each candidate.",
      "not-parallelizable": `parevo: this loop cannot be parallelized as it stands: ${st.message}.`,
      races: "parevo: this loop has a data race. The quick fix \"Fix data race with ParlayLib\" searches a " +
        "verified rewrite of its serial meaning.",
      "race-free": `parevo: this loop is already parallel and race-free (${st.message}).`,
      stale: `parevo: ${st.message}. ${run} again.`,
      error: `parevo could not run on this loop: ${st.message}.`,
      verified: what === "rewrite"
        ? `parevo: the verified rewrite no longer applies to this file as it is now. ${run} again.`
        : `parevo: ${st.message}.`,
    };
    const pick = await vscode.window.showInformationMessage(text[st.state] ?? `parevo: ${st.message}`,
      ...(["never-run", "stale", "verified", "none-verified"].includes(st.state) ? ["Parallelize"] : []));
    if (pick === "Parallelize") {
      await parallelize();
    }
  }

  async function parallelize(): Promise<void> {
    const ed = cppEditor();
    const client = ed && ctl.running();
    if (!ed || !client) {
      return;
    }
    const [line, end] = selectedLines(ed);
    const uri = client.code2ProtocolConverter.asUri(ed.document.uri);
    try {
      // the server shows why when it does not start (not a loop, toolchain missing, ...)
      await ctl.serverCommand("parevo.parallelize", [uri, line, end, ed.document.version]);
    } catch (err) {
      void vscode.window.showErrorMessage(`parevo: ${errorText(err)}`);
    }
  }

  async function cancel(): Promise<void> {
    const client = ctl.running();
    if (!client) {
      return;
    }
    const ed = vscode.window.activeTextEditor;
    let n = 0;
    if (ed && C_LANGUAGES.has(ed.document.languageId)) {
      const [line, end] = selectedLines(ed);
      const r = await ctl.serverCommand<{ cancelled: number }>(
        "parevo.cancel", [client.code2ProtocolConverter.asUri(ed.document.uri), line, end]).catch(() => ({ cancelled: 0 }));
      n = r.cancelled;
    }
    if (n === 0) {
      // no search of the loop at the cursor: cancel them all
      n = (await ctl.serverCommand<{ cancelled: number }>("parevo.cancel", [])).cancelled;
    }
    void vscode.window.showInformationMessage(n > 0 ? `parevo: cancelled ${n} search${n > 1 ? "es" : ""}.` : "parevo: no search is running.");
  }

  async function showReport(): Promise<void> {
    const ed = cppEditor();
    const client = ed && ctl.running();
    if (!ed || !client) {
      return;
    }
    const hover = await client.sendRequest(proto.HoverRequest.type, {
      textDocument: { uri: client.code2ProtocolConverter.asUri(ed.document.uri) },
      position: client.code2ProtocolConverter.asPosition(ed.selection.active),
    });
    const text = hover ? markdownOf(hover.contents) : "";
    if (!text) {
      await explainMissing(ed, "report");
      return;
    }
    const name = path.basename(ed.document.uri.fsPath);
    const uri = vscode.Uri.from({ scheme: REPORT_SCHEME, path: `/parevo report ${name} line ${ed.selection.active.line + 1}.md` });
    reports.set(uri.toString(), `# parevo: ${name}, line ${ed.selection.active.line + 1}\n\n${text}\n`);
    try {
      await vscode.commands.executeCommand("markdown.showPreviewToSide", uri);
    } catch {
      // no markdown preview (disabled extension): show the Markdown source
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    }
  }

  async function showDiff(): Promise<void> {
    const ed = cppEditor();
    const client = ed && ctl.running();
    if (!ed || !client) {
      return;
    }
    const found = await fetchRewrite(client, ed).catch((err) => {
      void vscode.window.showErrorMessage(`parevo: ${errorText(err)}`);
      return null;
    });
    if (found === null) {
      return;
    }
    if (!found) {
      await explainMissing(ed, "rewrite");
      return;
    }
    const doc = ed.document;
    const text = applyToText(doc, found.edit, client);
    const right = rewrites.put({ source: doc.uri, title: found.title, text, edit: found.edit });
    const name = path.basename(doc.uri.fsPath);
    await vscode.commands.executeCommand("vscode.diff", doc.uri, right, `${name} ↔ ${found.title}`);
    const pick = await vscode.window.showInformationMessage(`parevo: ${found.title}?`, "Apply");
    if (pick === "Apply") {
      await applyRewrite(right);
    }
  }

  async function applyRewrite(target?: vscode.Uri): Promise<void> {
    const client = ctl.running();
    if (!client) {
      return;
    }
    const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
    const pending = uri && (uri.scheme === REWRITE_SCHEME ? rewrites.get(uri) : rewrites.forSource(uri));
    if (!pending) {
      void vscode.window.showInformationMessage("parevo: open a rewrite with \"parevo: Show the Rewrite as a Diff\" first.");
      return;
    }
    const edit = await client.protocol2CodeConverter.asWorkspaceEdit(pending.edit);
    if (!(await vscode.workspace.applyEdit(edit))) {
      void vscode.window.showWarningMessage(
        "parevo: the rewrite was not applied: the file changed since it was shown. Show the diff again.");
    }
  }

  return [
    vscode.workspace.registerTextDocumentContentProvider(REWRITE_SCHEME, rewrites),
    vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, reportProvider),
    vscode.commands.registerCommand("parevo.parallelizeLoop", parallelize),
    vscode.commands.registerCommand("parevo.cancelSearch", cancel),
    vscode.commands.registerCommand("parevo.showReport", showReport),
    vscode.commands.registerCommand("parevo.showDiff", showDiff),
    vscode.commands.registerCommand("parevo.applyRewrite", applyRewrite),
    vscode.commands.registerCommand("parevo.restartServer", () => ctl.restart()),
    vscode.commands.registerCommand("parevo.showOutput", () => ctl.output.show()),
  ];
}

/** The Markdown of a hover's contents (any of the LSP shapes). */
function markdownOf(contents: proto.Hover["contents"]): string {
  const one = (c: proto.MarkedString | proto.MarkupContent): string =>
    typeof c === "string" ? c : "kind" in c ? c.value : "```" + c.language + "\n" + c.value + "\n```";
  return Array.isArray(contents) ? contents.map(one).join("\n\n") : one(contents);
}
