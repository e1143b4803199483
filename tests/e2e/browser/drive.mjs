// Drives Debian's chromium (headless, through playwright-core) for tests/e2e/test_browser.py.
// Protocol: one JSON argument in; JSON lines out on stdout ({"event": ...}); the test answers
// on stdin where a step needs it (the message is sent by the test, through the API).
//   page mode: open the page, wait for the socket to be ready, print "socket-ready", wait for
//              the line "sent <messageId>" on stdin, wait for that message in the DOM.
//   docs mode: open the docs page, wait until the operations are listed.
// Either way: a screenshot, the DOM facts the test asserts on, and every request that tried to
// leave 127.0.0.1 (all of them are aborted: the browser is offline).
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const job = JSON.parse(process.argv[2]);
const say = (event, data = {}) => process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

const browser = await chromium.launch({
  executablePath: job.chromium,
  timeout: 30_000,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
  ],
});
const outside = [];
const consoleErrors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(job.timeoutMs);
  await context.route("**/*", (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname === "127.0.0.1") return route.continue();
    outside.push(route.request().url());
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(job.url, { waitUntil: "load" });

  let facts;
  if (job.mode === "page") {
    await page.waitForSelector('#socket[data-state="ready"], section[data-state="failed"]');
    say("socket-ready");
    const [, messageId] = (await nextLine()).split(" ");
    await page.waitForSelector(`#notifications li[data-message-id="${messageId}"]`);
    facts = await page.evaluate(() => ({
      states: Object.fromEntries([...document.querySelectorAll("section")].map((s) => [s.id, s.dataset.state])),
      results: [...document.querySelectorAll("#results li")].map((li) => ({ id: li.dataset.adId, text: li.textContent })),
      adId: document.querySelector("#ad").dataset.adId,
      adTitle: document.querySelector("#ad-title").textContent,
      adSeller: document.querySelector("#ad-seller").textContent,
      user: document.querySelector("#user").textContent,
      notifications: [...document.querySelectorAll("#notifications li")].map((li) => ({
        messageId: li.dataset.messageId,
        text: li.textContent,
      })),
      errors: document.querySelector("#errors").textContent,
    }));
  } else {
    // Scalar lists every operation in its sidebar, by summary
    await page.waitForFunction(
      (expected) => expected.every((id) => document.body.innerText.includes(id)),
      job.expect,
    );
    // ... and visibly so (not only in the DOM behind the loading skeleton), before the screenshot
    await page.getByText(job.expect[0], { exact: true }).first().waitFor({ state: "visible" });
    await page.waitForLoadState("networkidle");
    facts = await page.evaluate(() => ({
      title: document.title,
      text: document.body.innerText,
      scripts: [...document.scripts].map((s) => s.src).filter(Boolean),
    }));
  }
  await page.screenshot({ path: job.screenshot, fullPage: job.mode === "page" });
  say("done", { facts, outside, consoleErrors });
} catch (error) {
  // what the page showed when it failed: a screenshot and the visible text, for the report
  const page = browser.contexts()[0]?.pages()[0];
  const text = page ? await page.evaluate(() => document.body.innerText).catch(() => "") : "";
  if (page) await page.screenshot({ path: job.screenshot }).catch(() => undefined);
  say("failed", { error: String(error), outside, consoleErrors, text: text.slice(0, 4000) });
  process.exitCode = 1;
} finally {
  lines.close();
  await browser.close();
}
