// Entry point of the parevo VS Code extension: a thin client of `parevo serve`.
// The server lists the code actions (Parallelize with ParlayLib, Check for data
// races, Apply ParlayLib rewrite), runs the searches, publishes diagnostics and
// progress; this extension only starts it and adds commands and a status item.
import * as vscode from "vscode";
import { Controller } from "./client";
import { registerCommands } from "./commands";

let controller: Controller | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  controller = new Controller();
  context.subscriptions.push(controller, ...registerCommands(controller));
  await controller.start();
}

export async function deactivate(): Promise<void> {
  const c = controller;
  controller = undefined;
  await c?.stop();
}
