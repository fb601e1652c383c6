// Debian's headless Chromium driven by playwright-core, for the page tests:
// a fresh profile directory each run (playwright passes it as
// --user-data-dir; the tests also put their temporary files there), removed
// again by close().
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export async function launchChromium() {
  const profile = mkdtempSync(join(tmpdir(), "qvl-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1200, height: 800 },
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, profile, close };
}

// A new page that records its script errors and the bodies it posts to /api/v1/chat.
export async function watchedPage(context) {
  const page = await context.newPage();
  const errors = [], sent = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (req) => {
    if (req.url().endsWith("/api/v1/chat")) sent.push(JSON.parse(req.postData()));
  });
  return { page, errors, sent };
}
