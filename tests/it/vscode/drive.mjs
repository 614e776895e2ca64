// Drives VS Code (code-server) in Debian's chromium with playwright-core, the way a person
// uses the RAE Memory extension. The Rust test (tests/it/vscode.rs) starts everything and sends
// one command a line on stdin; each answer is one JSON line on stdout ({"ok": true, ...} or
// {"ok": false, "error": "..."}). Waits are on conditions with deadlines, never fixed sleeps.
//
// Commands:
//   open                      open the workbench on $WORKSPACE and wait until it is ready
//   set-key KEY               RAE: Set API Key, typing KEY
//   remember FILE FROM TO NOTE  open FILE, select lines FROM..TO (1-based), Ctrl+Shift+M, type NOTE, Enter
//   recall QUERY EXPECT       RAE: Recall QUERY, then wait for a result row containing EXPECT
//   related FILE EXPECT       open FILE with the Related view shown; wait for a row containing EXPECT
//   commit FILE MESSAGE       add a line to FILE, save, and commit everything from the Source Control view
//   status EXPECT             wait until the status bar item's label contains EXPECT
//   screenshot NAME           save a PNG of the window to $SCREENSHOTS/NAME.png
//   activation                the extension's activation time from Developer: Show Running Extensions
//   quit
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const { CODE_SERVER_URL, WORKSPACE, CHROMIUM, SCREENSHOTS } = process.env;
/** How long one step may take: the extension host and language servers start slowly on a busy machine. */
const STEP_MS = 60_000;

let browser;
let page;

function answer(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The quick input (palette, quick open, input boxes), once it is shown. */
async function quickInput() {
  const widget = page.locator(".quick-input-widget");
  await widget.waitFor({ state: "visible", timeout: STEP_MS });
  return widget;
}

/** Waits until no quick input is shown, so the next one is not confused with it. */
async function quickInputClosed() {
  await page.locator(".quick-input-widget").waitFor({ state: "hidden", timeout: STEP_MS });
}

function exactly(text) {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

/** Runs `command` from the command palette, choosing the row labelled exactly so. */
async function palette(command) {
  await quickInputClosed();
  await page.keyboard.press("F1");
  const widget = await quickInput();
  await widget.locator("input").fill(`>${command}`);
  const row = widget
    .locator(".monaco-list-row", { has: page.locator(".label-name", { hasText: exactly(command) }) })
    .first();
  await row.waitFor({ state: "visible", timeout: STEP_MS });
  await row.click();
}

/** Types into the open input box (the extension's showInputBox) and presses Enter. */
async function answerInputBox(text, titleText) {
  const widget = page.locator(".quick-input-widget", { hasText: titleText });
  await widget.waitFor({ state: "visible", timeout: STEP_MS });
  const input = widget.locator("input");
  await input.fill(text);
  await input.press("Enter");
  await widget.waitFor({ state: "hidden", timeout: STEP_MS });
}

async function openFile(file) {
  await quickInputClosed();
  await page.keyboard.press("Control+P");
  const widget = await quickInput();
  await widget.locator("input").fill(file);
  const name = file.split("/").pop();
  const row = widget.locator(".monaco-list-row", { hasText: name }).first();
  await row.waitFor({ state: "visible", timeout: STEP_MS });
  await row.click();
  await quickInputClosed();
  await page
    .locator(".tabs-container .tab.active", { hasText: name })
    .waitFor({ state: "visible", timeout: STEP_MS });
  // A click in the text puts the keyboard focus in the editor.
  await page.locator(".editor-instance .monaco-editor .view-lines").first().click();
}

/** Selects whole lines `from`..`to` (1-based) with the keyboard, as a person would. */
async function selectLines(from, to) {
  await page.keyboard.press("Control+G");
  const widget = await quickInput();
  await widget.locator("input").fill(`:${from}`);
  await widget.locator("input").press("Enter");
  await quickInputClosed();
  await page.keyboard.press("Home");
  await page.keyboard.press("Home");
  for (let i = from; i < to; i++) await page.keyboard.press("Shift+ArrowDown");
  await page.keyboard.press("Shift+End");
  // VS Code shows the selection in the status bar: "Ln 10, Col 4 (123 selected)".
  await page
    .locator(".statusbar-item", { hasText: `Ln ${to},` })
    .filter({ hasText: "selected" })
    .first()
    .waitFor({ state: "visible", timeout: STEP_MS });
}

/** A row of the view `title` containing `text`. */
async function viewRow(title, text) {
  const pane = page.locator(".pane", {
    has: page.locator(".pane-header", { hasText: title }),
  });
  const row = pane.locator(".monaco-list-row", { hasText: text }).first();
  await row.waitFor({ state: "visible", timeout: STEP_MS });
  return row;
}

async function statusLabel(expect) {
  const item = page.locator(".statusbar-item[aria-label*='RAE Memory']").first();
  const deadline = Date.now() + STEP_MS;
  let label = "";
  while (Date.now() < deadline) {
    label = (await item.getAttribute("aria-label").catch(() => null)) ?? "";
    if (label.includes(expect)) return label;
    await page.waitForTimeout(100);
  }
  throw new Error(`the status bar never said ${JSON.stringify(expect)}; it says ${JSON.stringify(label)}`);
}

const commands = {
  async open() {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 850 } });
    page = await context.newPage();
    await page.goto(`${CODE_SERVER_URL}/?folder=${encodeURIComponent(WORKSPACE)}`);
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: STEP_MS });
    await page
      .locator(".explorer-folders-view .monaco-list-row", { hasText: "src" })
      .waitFor({ state: "visible", timeout: STEP_MS });
    return {};
  },
  async "set-key"(key) {
    await palette("RAE: Set API Key");
    await answerInputBox(key, "RAE: Set API Key");
    return {};
  },
  async remember(file, from, to, ...note) {
    await openFile(file);
    await selectLines(Number(from), Number(to));
    await page.keyboard.press("Control+Shift+M");
    await answerInputBox(note.join(" "), "RAE: Remember");
    return {};
  },
  async recall(query, expect) {
    await palette("RAE: Recall");
    await answerInputBox(query, "RAE: Recall");
    const row = await viewRow("Recall", expect);
    return { row: await row.getAttribute("aria-label") };
  },
  async related(file, expect) {
    await palette("RAE: Refresh Related Memories");
    await openFile(file);
    const row = await viewRow("Related to This File", expect);
    return { row: await row.getAttribute("aria-label") };
  },
  async commit(file, ...message) {
    const text = message.join(" ");
    await openFile(file);
    await page.keyboard.press("Control+End");
    await page.keyboard.type("\n// Totals are rounded half up.\n");
    await page.keyboard.press("Control+S");
    await page
      .locator(".tabs-container .tab.active:not(.dirty)")
      .waitFor({ state: "visible", timeout: STEP_MS });
    await palette("Source Control: Focus on Changes View");
    const box = page.locator(".scm-editor .monaco-editor").first();
    await box.waitFor({ state: "visible", timeout: STEP_MS });
    // The change is listed before committing, so the commit has something to take.
    await page
      .locator(".scm-view .monaco-list-row", { hasText: file.split("/").pop() })
      .first()
      .waitFor({ state: "visible", timeout: STEP_MS });
    await box.click();
    await page.keyboard.type(text);
    await page.keyboard.press("Control+Enter");
    // Committed: the message box is empty again.
    await page
      .locator(".scm-editor .view-line", { hasText: text })
      .waitFor({ state: "detached", timeout: STEP_MS });
    return {};
  },
  async status(...expect) {
    return { label: await statusLabel(expect.join(" ")) };
  },
  async screenshot(name) {
    const path = `${SCREENSHOTS}/${name}.png`;
    await page.screenshot({ path });
    return { path };
  },
  async activation() {
    await palette("Developer: Show Running Extensions");
    const row = page.locator(".runtime-extensions-editor .monaco-list-row", { hasText: "RAE Memory" }).first();
    await row.waitFor({ state: "visible", timeout: STEP_MS });
    const time = row.locator(".activation-time").first();
    await time.waitFor({ state: "visible", timeout: STEP_MS });
    return { activation: (await time.textContent())?.trim() };
  },
  async quit() {
    await browser?.close();
    return {};
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [name, ...args] = line.trim().split(/\s+/);
  if (!name) continue;
  const run = commands[name];
  try {
    if (run === undefined) throw new Error(`unknown command ${name}`);
    answer({ ok: true, ...(await run(...args)) });
  } catch (e) {
    answer({ ok: false, error: `${name}: ${e instanceof Error ? e.message : String(e)}` });
  }
  if (name === "quit") break;
}
