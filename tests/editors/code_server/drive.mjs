// Drives real VS Code (code-server) in Debian's headless Chromium with playwright-core,
// as a user would: open the example, Ctrl+G to the loop, Ctrl+. and pick
// "Parallelize with ParlayLib", watch the progress and the status bar, wait for
// the info squiggle, Ctrl+. again and pick "Apply ParlayLib rewrite", save.
// Screenshots go to $SHOTS; a JSON summary to $RESULT. Used by test_code_server.py.
//
// env: PLAYWRIGHT (path of playwright-core), URL, FILE (name in the workspace), LINE (1-based),
//      SETTINGS (user settings.json, rewritten to re-measure on a busy machine), NUDGE,
//      ATTEMPTS, SHOTS, RESULT, TIMEOUT_MS
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT);
const env = (k, d) => process.env[k] ?? d;
const FILE = env("FILE"), LINE = Number(env("LINE")), SHOTS = env("SHOTS"), TIMEOUT = Number(env("TIMEOUT_MS", "900000"));
const ATTEMPTS = Number(env("ATTEMPTS", "6"));
const out = { steps: [], offered: [], picked: [], statusTexts: [], notifications: [], attempts: 0 };
const t0 = Date.now();
const initialSettings = JSON.parse(fs.readFileSync(env("SETTINGS"), "utf8"));
const step = (s) => { out.steps.push(s); console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
const shot = async (name) => {
  await page.screenshot({ path: path.join(SHOTS, name) });
  step(`screenshot ${name}`);
};
// the parevo status bar item (its id is "<extension id>.<item id>")
const statusItem = () => page.locator('[id="parevo.parevo.parevo.status"]');
const statusText = async () => ((await statusItem().textContent({ timeout: 2000 }).catch(() => "")) ?? "").trim();
const searching = async () => (await statusItem().locator(".codicon-sync").count()) > 0;

/** Ctrl+. on the loop and the titles offered; picks the first starting with `prefix` (or Escape). */
async function codeAction(prefix) {
  await gotoLine();
  await page.keyboard.press("Control+Period");
  const rows = page.locator(".action-widget .monaco-list-row.action");
  await rows.first().waitFor({ timeout: 30000 });
  await sleep(500); // the list fills in once
  const titles = (await rows.allTextContents()).map((t) => t.trim());
  out.offered.push(titles);
  const i = titles.findIndex((t) => t.startsWith(prefix));
  if (i < 0) {
    await page.keyboard.press("Escape");
    return null;
  }
  out.picked.push(titles[i]);
  return { titles, click: () => rows.nth(i).click() };
}

/** Run a command from the palette by its title. */
async function runCommand(title) {
  await page.keyboard.press("Control+Shift+P");
  await page.keyboard.type(title);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ timeout: 30000 });
  await row.click();
}

async function gotoLine() {
  await page.locator(".monaco-editor textarea").first().focus();
  await page.keyboard.press("Control+Home"); // the whole (short) file in view
  await page.keyboard.press("Control+G");
  await page.keyboard.type(String(LINE));
  await page.keyboard.press("Enter");
  await sleep(300);
}

/**
 * Re-measure on a busy machine: change `parevo.eval` as a user would, in the settings
 * editor (code-server does not notice a settings.json written behind its back); VS Code
 * forwards the change to the running server (workspace/didChangeConfiguration).
 */
async function nudgeSettings(attempt) {
  const s = structuredClone(initialSettings);
  out.targetSeconds = Number((0.02 + Number(env("NUDGE", "0")) + attempt * 1e-4).toFixed(6));
  s["parevo.eval"] = { ...s["parevo.eval"], targetSeconds: out.targetSeconds };
  await page.keyboard.press("Control+Shift+P");
  await page.keyboard.type("Preferences: Open User Settings (JSON)");
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: "Open User Settings (JSON)" }).first();
  await row.waitFor({ timeout: 30000 });
  await row.click();
  // VS Code 1.139 opens it in a modal editor: wait for a focused editor showing it
  await page.locator(".monaco-editor.focused .view-lines", { hasText: "parevo.server" }).waitFor({ timeout: 30000 });
  await sleep(500);
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(JSON.stringify(s)); // one line: no auto-indenting
  await page.keyboard.press("Control+Shift+End"); // drop what auto-closing added after the cursor
  await page.keyboard.press("Delete");
  await page.keyboard.press("Control+S");
  await sleep(1000);
  JSON.parse(fs.readFileSync(env("SETTINGS"), "utf8")); // throws if the editor mangled it
  await page.keyboard.press("Control+W");
  await page.locator(".monaco-editor .view-lines", { hasText: "parevo.server" }).waitFor({ state: "detached", timeout: 30000 });
  out.settingsChanged = (out.settingsChanged ?? 0) + 1;
  step(`settings: parevo.eval.targetSeconds = ${out.targetSeconds}`);
}

try {
  await page.goto(env("URL"), { waitUntil: "domcontentloaded" });
  await page.locator(".monaco-workbench").waitFor({ timeout: 120000 });
  step("workbench");
  // record every notification text and status item text as they appear: a search whose
  // evaluations all come from the cache ends within a second, faster than polling
  await page.evaluate(() => {
    const seen = (window.__parevoSeen = { toasts: new Set(), status: new Set() });
    new MutationObserver(() => {
      for (const t of document.querySelectorAll(".notification-toast .notification-list-item-message")) {
        seen.toasts.add(t.innerText.trim());
      }
      const st = document.getElementById("parevo.parevo.parevo.status");
      if (st) seen.status.add(st.innerText.trim() + (st.querySelector(".codicon-sync") ? " [spinning]" : ""));
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  // open the file: Ctrl+P, its name, the first row
  await page.locator(".monaco-workbench").click({ position: { x: 640, y: 300 } }).catch(() => {});
  await page.keyboard.press("Control+P");
  await page.keyboard.type(FILE);
  const row = page.locator(".quick-input-widget .monaco-list-row").first();
  await row.waitFor({ timeout: 30000 });
  await row.click();
  await page.locator(".monaco-editor .view-lines").first().waitFor({ timeout: 30000 });
  step("opened");
  if (env("SCENARIO", "parallelize") === "server-missing") {
    await serverMissing();
  } else {
    await parallelize();
  }
} catch (e) {
  out.error = String(e && e.stack || e);
  out.busy = out.busy === true && out.error.includes("no verified rewrite after all attempts");
  await page.screenshot({ path: path.join(SHOTS, "vscode-failure.png") }).catch(() => {});
} finally {
  Object.assign(out, await page.evaluate(() => ({
    toastsSeen: [...(window.__parevoSeen?.toasts ?? [])], statusSeen: [...(window.__parevoSeen?.status ?? [])],
  })).catch(() => ({})));
  out.seconds = (Date.now() - t0) / 1000;
  fs.writeFileSync(env("RESULT"), JSON.stringify(out, null, 2));
  await browser.close();
}

/** parevo.server.path points nowhere: the error says what to do, the status item turns red. */
async function serverMissing() {
  await page.waitForFunction(() => document.getElementById("parevo.parevo.parevo.status")?.querySelector(".codicon-error"),
    null, { timeout: 60000 });
  out.statusError = true;
  const toast = page.locator(".notification-toast", { hasText: "parevo: the language server" }).first();
  await toast.waitFor({ timeout: 30000 });
  out.notifications = await page.locator(".notification-list-item-message").allInnerTexts();
  out.buttons = (await toast.locator(".monaco-button").allInnerTexts()).map((t) => t.trim());
  await shot("vscode-server-missing.png");
  step("error shown");
}

/** The main scenario: lightbulb → search → squiggle → hover → diff → report → apply → save. */
async function parallelize() {
  // the extension activates on C++ and starts the server: the status item says so
  await statusItem().waitFor({ timeout: 60000 });
  await page.waitForFunction(() => {
    const el = document.getElementById("parevo.parevo.parevo.status");
    return el && el.querySelector(".codicon-check, .codicon-warning");
  }, null, { timeout: 60000 });
  out.statusTexts.push(await statusText());
  step("server ready");

  out.targetSeconds = initialSettings["parevo.eval"]?.targetSeconds;
  let verified = false;
  for (let attempt = 1; attempt <= ATTEMPTS && !verified; attempt++) {
    out.attempts = attempt;
    if (attempt > 1) {
      await sleep(Number(env("RETRY_PAUSE_MS", "20000")));
      await nudgeSettings(attempt);
    }
    const act = await codeAction("Parallelize with ParlayLib");
    if (!act) throw new Error(`no "Parallelize with ParlayLib" action: ${JSON.stringify(out.offered.at(-1))}`);
    if (attempt === 1) await shot("vscode-lightbulb.png");
    await act.click();
    step(`parallelize (attempt ${attempt})`);
    // progress: a notification with the search title, and the status bar item spinning
    await page.waitForFunction(() => {
      const el = document.getElementById("parevo.parevo.parevo.status");
      return el && el.querySelector(".codicon-sync");
    }, null, { timeout: 60000 });
    const note = page.locator(".notifications-toasts .notification-toast", { hasText: "Parallelize with ParlayLib" });
    await note.first().waitFor({ timeout: 30000 }).catch(() => {});
    out.notifications.push(((await note.first().locator(".notification-list-item-message").innerText().catch(() => "")) ?? "").trim());
    out.statusTexts.push(await statusText());
    // a screenshot only while it runs (a search answered from the cache is over in a second)
    if (attempt === 1 && await searching()) await shot("vscode-progress.png");
    step("progress seen");
    const deadline = Date.now() + TIMEOUT;
    while (await searching()) {
      if (Date.now() > deadline) throw new Error("the search did not end in time");
      await sleep(1000);
    }
    out.statusTexts.push(await statusText());
    step("search ended");
    await page.locator(".monaco-editor .squiggly-info").first().waitFor({ timeout: 30000 });
    // the lightbulb now offers the verified rewrite, unless the machine measured no speedup
    const apply = await codeAction("Apply ParlayLib rewrite");
    if (apply) {
      await page.keyboard.press("Escape");
      verified = true;
    } else {
      out.busy = true;
    }
  }
  if (!verified) throw new Error("no verified rewrite after all attempts (machine busy?)");
  out.busy = false;
  out.verified = true;
  step("info squiggle");
  // hover the loop: the evidence
  await gotoLine();
  // (the squiggle is drawn under the text layer: move the mouse onto it rather than hover() it)
  const box = await page.locator(".monaco-editor .squiggly-info").first().boundingBox();
  await page.mouse.move(box.x + Math.min(40, box.width / 2), box.y + box.height / 2);
  await page.locator(".monaco-hover").first().waitFor({ timeout: 30000 }).catch(() => {});
  await sleep(1500);
  out.hover = ((await page.locator(".monaco-hover").first().textContent().catch(() => "")) ?? "").trim();
  await shot("vscode-verified.png");
  await page.keyboard.press("Escape");

  // the rewrite as a diff against the current code (nothing applied yet)
  await gotoLine();
  await runCommand("parevo: Show the Rewrite as a Diff");
  await page.waitForFunction(() => [...document.querySelectorAll(".monaco-diff-editor .editor.modified .view-lines")]
    .some((e) => e.textContent.includes("parlay::")), null, { timeout: 30000 });
  await sleep(1500);
  out.diffShown = true;
  await shot("vscode-diff.png");
  await page.keyboard.press("Control+W");
  await runCommand("Notifications: Clear All Notifications"); // the diff's "Apply?" question
  step("diff");

  // the report of the loop (the hover's evidence) in a Markdown preview
  await gotoLine();
  await runCommand("parevo: Show the Report of the Loop at the Cursor");
  const reportTab = page.locator(".tab", { hasText: "parevo report" });
  await reportTab.first().waitFor({ timeout: 30000 });
  out.reportTab = ((await reportTab.first().textContent()) ?? "").trim();
  await sleep(1500);
  await reportTab.first().click({ button: "middle" }); // closes the tab (focus may be inside the preview's webview)
  await reportTab.first().waitFor({ state: "detached", timeout: 30000 });
  step("report");
  const apply = await codeAction("Apply ParlayLib rewrite");
  await apply.click();
  await page.waitForFunction(() => document.querySelector(".monaco-editor .view-lines")?.textContent.includes("parlay::"),
    null, { timeout: 30000 });
  step("applied");
  await page.keyboard.press("Control+S");
  await sleep(1500);
  out.editorText = await page.locator(".monaco-editor .view-lines").first().innerText();
  await shot("vscode-applied.png");
  step("done");
}
