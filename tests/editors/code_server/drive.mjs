// Drives real VS Code (code-server) in Debian's headless Chromium with playwright-core, as a user would.
// Scenarios ($SCENARIO):
//   main: $FILE's loop has a verified result in the workspace's store: the info squiggle, the lightbulb
//         (Apply first, Parallelize "(run again)"), the hover, the diff, the report, Apply, save; then a live
//         search of $LIVE_FILE whose progress notification is cancelled from its Cancel button.
//   fix:  $FILE holds a racy parallel loop: Check for data races, the warning on the expression that raced
//         and its hover, the quick fix "Fix data race with ParlayLib" (a live search, any verdict); then
//         $STORED_FILE, whose race fix is in the store: Apply (race-free), diff, save.
//   server-missing: parevo.server.path points nowhere.
// Screenshots go to $SHOTS; a JSON summary to $RESULT. Used by test_code_server.py.
//
// env: PLAYWRIGHT (path of playwright-core), URL, FILE, LINE (1-based), LIVE_FILE, STORED_FILE, SCENARIO,
//      SHOTS, RESULT, TIMEOUT_MS
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT);
const env = (k, d) => process.env[k] ?? d;
const FILE = env("FILE"), LINE = Number(env("LINE")), SHOTS = env("SHOTS"), TIMEOUT = Number(env("TIMEOUT_MS", "900000"));
const out = { steps: [], offered: [], picked: [], statusTexts: [], notifications: [], hovers: {} };
const t0 = Date.now();
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
const STATUS_ID = "parevo.parevo.parevo.status";
const statusItem = () => page.locator(`[id="${STATUS_ID}"]`);
const statusText = async () => ((await statusItem().textContent({ timeout: 2000 }).catch(() => "")) ?? "").trim();
const searching = async () => (await statusItem().locator(".codicon-sync").count()) > 0;

async function openFile(name) {
  await page.locator(".monaco-workbench").click({ position: { x: 640, y: 300 } }).catch(() => {});
  await page.keyboard.press("Control+P");
  await page.keyboard.type(name);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: name }).first();
  await row.waitFor({ timeout: 60000 });
  await row.click();
  await page.locator(".tab.active", { hasText: name }).waitFor({ timeout: 30000 });
  await page.locator(".monaco-editor .view-lines").first().waitFor({ timeout: 30000 });
  step(`opened ${name}`);
}

async function gotoLine(line = LINE) {
  await page.locator(".editor-instance .monaco-editor textarea").first().focus();
  await page.keyboard.press("Control+Home"); // the whole (short) file in view
  await page.keyboard.press("Control+G");
  await page.keyboard.type(String(line));
  await page.keyboard.press("Enter");
  await sleep(300);
}

/** Ctrl+. on the loop and the titles offered; returns a clicker for the first starting with `prefix` (or null). */
async function codeAction(prefix, line = LINE) {
  const rows = page.locator(".action-widget .monaco-list-row.action");
  for (let attempt = 1; ; attempt++) {
    await gotoLine(line);
    await page.keyboard.press("Control+Period");
    try {
      await rows.first().waitFor({ timeout: 10000 });
      break;
    } catch (e) {
      // a file just opened: its actions come once the server has read it; ask again
      await page.keyboard.press("Escape");
      if (attempt === 4) throw e;
      await sleep(3000);
    }
  }
  await sleep(700); // the list fills in once
  const titles = (await rows.allTextContents()).map((t) => t.trim());
  out.offered.push(titles);
  const i = titles.findIndex((t) => t.startsWith(prefix));
  if (i < 0) {
    await page.keyboard.press("Escape");
    return null;
  }
  return { titles, click: async () => { out.picked.push(titles[i]); await rows.nth(i).click(); } };
}

/** Run a command from the palette by its title. */
async function runCommand(title) {
  await page.keyboard.press("Control+Shift+P");
  await page.keyboard.type(title);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ timeout: 30000 });
  await row.click();
}

/** Hover the first squiggle of `kind` ("info", "warning") and return the hover's text. */
async function hoverSquiggle(kind, name) {
  await gotoLine();
  const sq = page.locator(`.monaco-editor .squiggly-${kind}`).first();
  await sq.waitFor({ timeout: 60000 });
  // (the squiggle is drawn under the text layer: move the mouse onto it rather than hover() it)
  const box = await sq.boundingBox();
  await page.mouse.move(box.x + Math.min(20, box.width / 2), box.y + box.height / 2);
  await page.locator(".monaco-hover").first().waitFor({ timeout: 30000 }).catch(() => {});
  await sleep(1500);
  const text = ((await page.locator(".monaco-hover").first().textContent().catch(() => "")) ?? "").trim();
  if (name) await shot(name);
  await page.keyboard.press("Escape");
  await page.mouse.move(5, 5);
  return text;
}

/** Wait for the running search to end (the status item stops spinning). */
async function searchEnds() {
  await page.waitForFunction((id) => document.getElementById(id)?.querySelector(".codicon-sync"), STATUS_ID,
    { timeout: 60000 }).catch(() => {});
  const deadline = Date.now() + TIMEOUT;
  while (await searching()) {
    if (Date.now() > deadline) throw new Error("the search did not end in time");
    await sleep(1000);
  }
  out.statusTexts.push(await statusText());
}

async function showDiff(name) {
  await gotoLine();
  await runCommand("parevo: Show the Rewrite as a Diff");
  await page.waitForFunction(() => [...document.querySelectorAll(".monaco-diff-editor .editor.modified .view-lines")]
    .some((e) => e.textContent.includes("parlay::")), null, { timeout: 30000 });
  await sleep(1500);
  const modified = await page.locator(".monaco-diff-editor .editor.modified .view-lines").first().innerText();
  if (name) await shot(name);
  await page.keyboard.press("Control+W");
  await runCommand("Notifications: Clear All Notifications"); // the diff's "Apply?" question
  return modified;
}

async function applyAndSave(prefix) {
  const apply = await codeAction(prefix);
  if (!apply) throw new Error(`no "${prefix}" action: ${JSON.stringify(out.offered.at(-1))}`);
  await apply.click();
  await page.waitForFunction(() => document.querySelector(".editor-instance .monaco-editor .view-lines")?.textContent
    .includes("parlay::"), null, { timeout: 30000 });
  await page.keyboard.press("Control+S");
  await sleep(1500);
  return await page.locator(".editor-instance .monaco-editor .view-lines").first().innerText();
}

try {
  await page.goto(env("URL"), { waitUntil: "domcontentloaded" });
  await page.locator(".monaco-workbench").waitFor({ timeout: 120000 });
  step("workbench");
  // record every notification text and status item text as they appear
  await page.evaluate((id) => {
    const seen = (window.__parevoSeen = { toasts: new Set(), status: new Set() });
    new MutationObserver(() => {
      for (const t of document.querySelectorAll(".notification-toast .notification-list-item-message")) {
        seen.toasts.add(t.innerText.trim());
      }
      const st = document.getElementById(id);
      if (st) seen.status.add(st.innerText.trim() + (st.querySelector(".codicon-sync") ? " [spinning]" : ""));
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, STATUS_ID);
  await openFile(FILE);
  const scenario = env("SCENARIO", "main");
  if (scenario === "server-missing") {
    await serverMissing();
  } else {
    // the extension activates on C++ and starts the server: the status item says so
    await page.waitForFunction((id) => document.getElementById(id)?.querySelector(".codicon-check, .codicon-warning"),
      STATUS_ID, { timeout: 120000 });
    out.statusTexts.push(await statusText());
    step("server ready");
    if (scenario === "fix") await raceFix(); else await main();
  }
} catch (e) {
  out.error = String(e && e.stack || e);
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
  await page.waitForFunction((id) => document.getElementById(id)?.querySelector(".codicon-error"), STATUS_ID,
    { timeout: 60000 });
  out.statusError = true;
  const toast = page.locator(".notification-toast", { hasText: "parevo: the language server" }).first();
  await toast.waitFor({ timeout: 30000 });
  out.notifications = await page.locator(".notification-list-item-message").allInnerTexts();
  out.buttons = (await toast.locator(".monaco-button").allInnerTexts()).map((t) => t.trim());
  await shot("vscode-server-missing.png");
  step("error shown");
}

/** A verified result from the store: squiggle, lightbulb, hover, diff, report, apply; then progress and cancel. */
async function main() {
  await page.locator(".monaco-editor .squiggly-info").first().waitFor({ timeout: 60000 });
  step("info squiggle");
  const act = await codeAction("Apply ParlayLib rewrite");
  if (!act) throw new Error(`no Apply action: ${JSON.stringify(out.offered.at(-1))}`);
  await shot("vscode-lightbulb.png");
  await page.keyboard.press("Escape");
  out.hovers.verified = await hoverSquiggle("info", "vscode-verified.png");
  out.diffText = await showDiff("vscode-diff.png");
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

  out.editorText = await applyAndSave("Apply ParlayLib rewrite");
  await shot("vscode-applied.png");
  step("applied");

  // a live search of another file: progress in a notification and the status bar; Cancel closes it
  await openFile(env("LIVE_FILE"));
  const par = await codeAction("Parallelize with ParlayLib");
  if (!par) throw new Error(`no Parallelize action: ${JSON.stringify(out.offered.at(-1))}`);
  await par.click();
  const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "Parallelize with ParlayLib" }).first();
  await toast.waitFor({ timeout: 60000 });
  await page.waitForFunction((id) => document.getElementById(id)?.querySelector(".codicon-sync"), STATUS_ID,
    { timeout: 60000 });
  await sleep(2500);
  out.notifications.push(((await toast.locator(".notification-list-item-message").innerText().catch(() => "")) ?? "").trim());
  out.statusTexts.push(await statusText());
  await shot("vscode-progress.png");
  step("progress");
  const cancelled = Date.now();
  await toast.hover();
  await toast.locator(".monaco-button", { hasText: "Cancel" }).first().click();
  await toast.waitFor({ state: "detached", timeout: 30000 });
  out.cancelClosedSeconds = (Date.now() - cancelled) / 1000;
  const deadline = Date.now() + 30000;
  while (await searching() && Date.now() < deadline) await sleep(500);
  out.statusTexts.push(await statusText());
  step("cancelled");
}

/** Race check, the warning on the expression and its hover, the fix (live), then a stored fix applied. */
async function raceFix() {
  const check = await codeAction("Check for data races");
  if (!check) throw new Error(`no "Check for data races" action: ${JSON.stringify(out.offered.at(-1))}`);
  await check.click();
  step("race check");
  await searchEnds();
  await page.locator(".monaco-editor .squiggly-warning").first().waitFor({ timeout: 60000 });
  out.squiggle = ((await page.locator(".monaco-editor .squiggly-warning").count()));
  out.hovers.race = await hoverSquiggle("warning", "vscode-race.png");
  step("race shown");

  const fix = await codeAction("Fix data race with ParlayLib");
  if (!fix) throw new Error(`no "Fix data race" action: ${JSON.stringify(out.offered.at(-1))}`);
  await shot("vscode-race-lightbulb.png");
  await fix.click();
  step("fix requested");
  await searchEnds();
  await sleep(2000);
  const verified = await codeAction("Apply ParlayLib rewrite (race-free");
  if (verified) {
    await page.keyboard.press("Escape");
    out.liveFix = "verified";
    out.fixDiff = await showDiff("vscode-race-fix.png");
    out.fixedText = await applyAndSave("Apply ParlayLib rewrite (race-free");
  } else {
    out.liveFix = "not verified";
    out.hovers.fix = await hoverSquiggle("info", null);
  }
  step(`live fix: ${out.liveFix}`);

  // the fix recorded in the store of another copy: Apply (race-free) first, the diff, save
  if (!env("STORED_FILE")) return;
  await openFile(env("STORED_FILE"));
  await page.locator(".monaco-editor .squiggly-warning").first().waitFor({ timeout: 60000 });
  const stored = await codeAction("Apply ParlayLib rewrite (race-free");
  if (!stored) throw new Error(`no stored race fix: ${JSON.stringify(out.offered.at(-1))}`);
  await page.keyboard.press("Escape");
  out.storedDiff = await showDiff(out.liveFix === "verified" ? null : "vscode-race-fix.png");
  out.storedText = await applyAndSave("Apply ParlayLib rewrite (race-free");
  await shot("vscode-race-fixed.png");
  step("stored fix applied");
}
