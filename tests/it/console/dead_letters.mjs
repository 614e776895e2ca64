// Drives the operator console in a real Chromium (Debian's, through playwright-core) as an
// operator would, for tests/it/console.rs. Environment: BASE (the console's origin), KEY (an
// operator key: console:read and dlq:admin), OTHER_KEY (a console key of another tenant),
// CONTENT (the content of the event RAE refused), DELIVERED_ID and MEMORY_ID (an event RAE
// stored and the memory id it answered), SECRET (the memory webhook's), CHROMIUM (the browser), SCREENSHOTS (a
// folder to save screenshots in, optional). Exits non-zero with the reason on the first step
// that does not show what it should.
import { chromium } from "playwright-core";

const { BASE, KEY, OTHER_KEY, CONTENT, DELIVERED_ID, MEMORY_ID, SECRET, SCREENSHOTS } = process.env;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

function check(condition, what) {
  if (!condition) throw new Error(what);
}

async function shot(page, name) {
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

async function signIn(page, key) {
  await page.goto(`${BASE}/console/`);
  check(page.url().endsWith("/console/sign-in"), `not sent to sign in: ${page.url()}`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
try {
  // A wrong key is refused, and says so.
  const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await context.newPage();
  await signIn(page, "not-a-key-of-this-pipeline");
  await page.getByRole("alert").waitFor();
  check((await page.getByRole("alert").textContent()).includes("not valid"), "a wrong key was not refused");
  check((await context.cookies()).length === 0, "a refused sign-in set a cookie");

  // The operator signs in with the keyboard alone and lands on the overview.
  await page.getByLabel("API key").focus();
  await page.keyboard.type(KEY);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  const [cookie] = await context.cookies();
  check(cookie && cookie.httpOnly && cookie.sameSite === "Strict", `session cookie: ${JSON.stringify(cookie)}`);
  const deadRow = page.getByRole("row").filter({ hasText: "rae_rejected" });
  await deadRow.waitFor();
  check((await deadRow.textContent()).includes("1"), "the overview does not count the dead letter");
  check((await page.getByRole("row").filter({ hasText: "memory" }).first().textContent()).includes("healthy"), "the memory webhook is not healthy");
  await shot(page, "console-overview");

  // The trace of a delivered event shows RAE's memory id (the writer records it as it acks).
  await page.getByRole("link", { name: "Trace" }).click();
  await page.getByLabel(/Event id/).fill(DELIVERED_ID);
  await page.getByRole("button", { name: "Trace" }).click();
  const deadline = Date.now() + 20000;
  while (!(await page.getByText(MEMORY_ID).count())) {
    check(Date.now() < deadline, `the trace does not show memory ${MEMORY_ID}: ${await page.locator("main").textContent()}`);
    await page.waitForTimeout(100);
    await page.reload();
  }
  for (const step of ["Accepted", "Enriched", "Written to RAE"]) {
    check(await page.getByRole("heading", { name: step, level: 3 }).count(), `the trace lacks the step ${step}`);
  }
  await shot(page, "console-trace");

  await page.getByRole("link", { name: "Dead letters" }).click();
  await page.getByRole("heading", { name: "Dead letters", level: 1 }).waitFor();

  // The dead letter RAE's 422 made is listed, with its reason and content.
  const row = page.getByRole("row").filter({ hasText: CONTENT });
  await row.waitFor();
  check((await row.textContent()).includes("rae_rejected"), "the row does not show the reason rae_rejected");
  await shot(page, "console-dead-letters");

  // Its detail shows the error RAE answered.
  await row.getByRole("link").first().click();
  await page.getByRole("heading", { name: /^Dead letter \d+$/ }).waitFor();
  const error = await page.locator("pre.error-text").textContent();
  check(error.includes("422"), `the detail does not show RAE's 422: ${error}`);
  check(error.includes("content rejected by policy"), `the detail does not show RAE's message: ${error}`);
  const detailUrl = page.url();
  await shot(page, "console-dead-letter");

  // A missing CSRF token is refused, even with the session cookie.
  const sequence = detailUrl.split("/").pop();
  const forged = await context.request.post(`${BASE}/console/dead-letters/apply`, {
    form: { action: "replay-selected", seq: sequence },
    maxRedirects: 0,
  });
  check(forged.status() === 403, `a form without the CSRF token got ${forged.status()}`);

  // A filtered replay: the dry run shows the count first, then replays.
  await page.getByRole("link", { name: "← Dead letters" }).click();
  await page.getByLabel("Reason").selectOption("rae_rejected");
  await page.getByRole("button", { name: "Apply filter" }).click();
  await page.waitForURL(/reason=rae_rejected/);
  await page.getByRole("button", { name: "Replay all matching the filter…" }).click();
  await page.getByRole("heading", { name: /dry run/ }).waitFor();
  const count = await page.locator("#dry-run-count").textContent();
  check(/^1 dead letter would be replayed/.test(count.trim()), `dry run: ${count}`);
  await shot(page, "console-replay-dry-run");
  await page.getByRole("button", { name: "Replay 1 dead letter" }).click();
  await page.getByRole("status").filter({ hasText: "Replayed 1 dead letter." }).waitFor();

  // The replayed dead letter is gone from the list.
  await page.goto(`${BASE}/console/dead-letters?reason=rae_rejected`);
  check((await page.locator("caption").first().textContent()).includes("No dead letters match"), "the replayed dead letter is still listed");

  // The live tail shows an event as it is published.
  await page.getByRole("link", { name: "Live tail" }).click();
  await page.getByLabel("Flow").selectOption("events");
  await page.getByRole("button", { name: "Watch" }).click();
  await page.locator("#tail-state").filter({ hasText: "Watching." }).waitFor();
  const sent = await context.request.post(`${BASE}/api/v1/webhooks/memory`, {
    headers: { "x-webhook-secret": SECRET, "content-type": "application/json" },
    data: { content: "Seen live in the tail" },
  });
  check(sent.status() === 202, `the webhook answered ${sent.status()}`);
  await page.locator("#tail-log p").filter({ hasText: "Seen live in the tail" }).waitFor();
  await shot(page, "console-tail");
  await page.getByRole("button", { name: "Stop" }).click();

  // A key of another tenant signs in but sees none of this tenant's dead letters.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await signIn(otherPage, OTHER_KEY);
  await otherPage.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  await otherPage.goto(`${BASE}/console/dead-letters`);
  check((await otherPage.getByRole("row").filter({ hasText: CONTENT }).count()) === 0, "another tenant's key sees the dead letter");
  const answer = await otherPage.goto(detailUrl);
  check(answer.status() === 404, `another tenant's key opened the detail: ${answer.status()}`);
  const filtered = await otherPage.goto(`${BASE}/console/dead-letters?tenant=default-tenant`);
  check(filtered.status() === 400, `another tenant's key filtered by this tenant: ${filtered.status()}`);
  await other.close();
  await context.close();
  console.log("console browser test passed");
} finally {
  await browser.close();
}
