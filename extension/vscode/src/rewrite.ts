// "Show the rewrite as a diff": ask the server for the loop's "Apply ParlayLib
// rewrite" code action (resolving its edit), apply the edit to a copy of the
// text, and open VS Code's diff editor; "Apply" then applies the same
// versioned edit (VS Code rejects it when the file changed meanwhile).
import * as path from "path";
import * as vscode from "vscode";
import * as proto from "vscode-languageclient/node";
import { LanguageClient } from "vscode-languageclient/node";

export const REWRITE_SCHEME = "parevo-rewrite";
export const APPLY_PREFIX = "Apply ParlayLib rewrite";

interface Pending {
  source: vscode.Uri;
  title: string;
  text: string;
  edit: proto.WorkspaceEdit;
}

/** Read-only documents holding rewritten text, keyed by their `parevo-rewrite:` URI. */
export class RewriteDocuments implements vscode.TextDocumentContentProvider {
  private readonly pending = new Map<string, Pending>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.pending.get(uri.toString())?.text ?? "";
  }

  put(p: Pending): vscode.Uri {
    const name = path.basename(p.source.fsPath);
    const uri = vscode.Uri.from({ scheme: REWRITE_SCHEME, path: `/${name}`, query: p.source.toString() });
    this.pending.set(uri.toString(), p);
    this.changed.fire(uri);
    return uri;
  }

  get(uri: vscode.Uri): Pending | undefined {
    return this.pending.get(uri.toString());
  }

  /** The most recent rewrite of `source` (for "Apply" from the source side). */
  forSource(source: vscode.Uri): Pending | undefined {
    let found: Pending | undefined;
    for (const p of this.pending.values()) {
      if (p.source.toString() === source.toString()) {
        found = p;
      }
    }
    return found;
  }
}

/** The server's verified-rewrite action for the loop at the editor's selection, with its edit resolved. */
export async function fetchRewrite(client: LanguageClient, editor: vscode.TextEditor):
    Promise<{ title: string; edit: proto.WorkspaceEdit } | undefined> {
  const c2p = client.code2ProtocolConverter;
  const params: proto.CodeActionParams = {
    textDocument: { uri: c2p.asUri(editor.document.uri) },
    range: c2p.asRange(editor.selection),
    // a verified race fix is the race's quick fix: both kinds
    context: { diagnostics: [], only: [proto.CodeActionKind.RefactorRewrite, proto.CodeActionKind.QuickFix] },
  };
  const actions = (await client.sendRequest(proto.CodeActionRequest.type, params)) ?? [];
  for (const item of actions) {
    // a bare Command has a string `command`; not CodeAction.is(): it wants an edit or a
    // command, and the server leaves the edit to codeAction/resolve
    if (typeof item.command === "string" || !item.title.startsWith(APPLY_PREFIX)) {
      continue;
    }
    const a = item as proto.CodeAction;
    const resolved = a.edit ? a : await client.sendRequest(proto.CodeActionResolveRequest.type, a);
    if (resolved.edit) {
      return { title: resolved.title, edit: resolved.edit };
    }
  }
  return undefined;
}

/** `text` of `doc` with the edit's changes to `doc` applied (later edits first). */
export function applyToText(doc: vscode.TextDocument, edit: proto.WorkspaceEdit, client: LanguageClient): string {
  const target = client.code2ProtocolConverter.asUri(doc.uri);
  const edits: proto.TextEdit[] = [];
  for (const change of edit.documentChanges ?? []) {
    if (proto.TextDocumentEdit.is(change) && change.textDocument.uri === target) {
      edits.push(...(change.edits as proto.TextEdit[]));
    }
  }
  edits.push(...(edit.changes?.[target] ?? []));
  const text = doc.getText();
  const spans = edits.map((e) => ({
    start: doc.offsetAt(new vscode.Position(e.range.start.line, e.range.start.character)),
    end: doc.offsetAt(new vscode.Position(e.range.end.line, e.range.end.character)),
    newText: e.newText,
  }));
  // LSP edits never overlap and refer to the original text: splice from the end
  spans.sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const s of spans) {
    out = out.slice(0, s.start) + s.newText + out.slice(s.end);
  }
  return out;
}
