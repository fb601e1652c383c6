// The web page in a real browser: Debian's headless Chromium driven by
// playwright-core, against a running `qvl serve` (QVL_URL). Loads the page,
// uploads an image, asks, sees the answer stream in, asks a follow-up, copies
// an answer, clears, refuses a non-image file, takes a TIFF it cannot preview, and checks a phone-width
// layout. With QVL_SHOTS=DIR it saves screenshots there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const URL = process.env.QVL_URL;
const TD = process.env.QVL_TESTDATA || "../shared/testdata";
const SHOTS = process.env.QVL_SHOTS || "";
const IMG = `${TD}/images/img_320x256.png`;

test("the page: image, streamed answers, follow-up, copy, clear, bad file, phone width", async () => {
  const { context, profile, close } = await launchChromium();
  try {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: URL });
    const page = await context.newPage();
    // Keep the tiny model's answers short so the test runs in seconds (the
    // page itself asks for the server's default length); the stop test
    // below needs one long enough to click Stop in. ignore_eos: the random model's greedy answer
    // may end after a token or two, too soon to see it stream; 600 tokens outlast several of the
    // page's 30 ms redraws even on a fast, idle machine (200 sometimes fit in three).
    await page.route("**/api/v1/chat", (route) => {
      const body = JSON.parse(route.request().postData());
      body.max_tokens = body.question === "Tell me everything" ? 3000 : 600;
      body.ignore_eos = true;
      route.continue({ postData: JSON.stringify(body) });
    });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(URL + "/");
    await page.locator("#test-model-note").waitFor({ state: "visible" });
    assert.match(await page.locator("#test-model-note").textContent(), /SYNTHETIC TEST MODEL/);

    // Icons are inline SVG: Debian installs no emoji font, so no emoji may be in the page's text.
    assert.equal(await page.locator("#pick svg").count(), 1);
    const emoji = await page.evaluate(() => document.body.innerText.match(/\p{Extended_Pictographic}/gu));
    assert.equal(emoji, null, `emoji in the page text: ${emoji}`);

    // Detail: the server's four levels in order (never a "high" below "default"), each labelled
    // with its image tokens; "default" sends no max_pixels, so the server's default applies.
    await page.waitForFunction(() => document.querySelectorAll("#detail option").length === 4);
    const levels = await page.locator("#detail option").evaluateAll((os) =>
      os.map((o) => ({ value: o.value, tokens: Number(o.dataset.tokens), text: o.textContent, selected: o.selected })));
    assert.deepEqual(levels.map((l) => l.value === ""), [false, true, false, false]);
    assert.ok(levels[1].selected);
    for (let i = 1; i < 4; i++) assert.ok(levels[i].tokens > levels[i - 1].tokens, JSON.stringify(levels));
    assert.match(levels[1].text, /default · ~293 image tokens/);

    // Count the answer's updates while it streams: more than one means it arrived piece by piece.
    await page.evaluate(() => {
      window.__updates = 0;
      new MutationObserver(() => window.__updates++).observe(document.getElementById("log"),
        { childList: true, subtree: true, characterData: true });
    });

    await page.setInputFiles("#file-input", IMG);
    await page.locator("#preview").waitFor({ state: "visible" });
    await page.fill("#question", "What is in this picture?");
    await page.click("#send");
    const first = page.locator(".msg.assistant").nth(0);
    await first.locator(".stats").waitFor({ timeout: 20000 });
    assert.ok(await page.evaluate(() => window.__updates) > 3, "the answer was streamed in pieces");
    assert.match(await first.locator(".stats").textContent(), /tokens\/s/);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "answer.png") });

    // Follow-up: no new image is sent; the conversation keeps it.
    const sent = [];
    page.on("request", (r) => { if (r.url().endsWith("/api/v1/chat")) sent.push(JSON.parse(r.postData())); });
    await page.fill("#question", "And the colours?");
    await page.press("#question", "Enter");
    await page.locator(".msg.assistant").nth(1).locator(".stats").waitFor({ timeout: 20000 });
    assert.equal(sent.length, 1);
    assert.ok(sent[0].conversation_id && !sent[0].image, "the follow-up uses the conversation, not the image again");
    assert.equal(await page.locator(".msg.user").count(), 2);

    // Copy puts the answer's raw text on the clipboard.
    await first.locator(".copy").click();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    // The rendering drops Markdown marks and whitespace; the letters must match.
    const letters = (s) => s.replace(/[\s*`#-]/g, "");
    assert.ok(clip.length > 0);
    assert.equal(letters(clip), letters(await first.locator(".body").innerText()));

    // Stop: a long answer is cut off and the buttons come back.
    await page.fill("#question", "Tell me everything");
    await page.click("#send");
    await page.waitForFunction(() => document.querySelectorAll(".msg.assistant").length === 3 &&
                               document.querySelectorAll(".msg.assistant")[2].textContent.length > 0);
    await page.click("#stop");
    await page.waitForFunction(() => !document.getElementById("send").disabled);

    // Clear empties the chat.
    await page.click("#clear");
    assert.equal(await page.locator(".msg").count(), 0);

    // A non-image file gets a clear message, in the page, without a request.
    const bad = join(profile, "notes.txt");
    writeFileSync(bad, "not an image");
    await page.setInputFiles("#file-input", bad);
    await page.locator(".msg.error").waitFor();
    assert.match(await page.locator(".msg.error").textContent(), /JPG, PNG, WebP, HEIC/);

    // A TIFF (a scanner's file, and like HEIC one Chromium cannot show): taken without a
    // type from its name, the page says there is no preview, and the server answers about it.
    const tiff = join(profile, "scan.tif");
    execFileSync("convert", [IMG, tiff]);
    await page.click("#clear");
    await page.setInputFiles("#file-input", { name: "scan.tif", mimeType: "", buffer: readFileSync(tiff) });
    await page.locator("#image-info", { hasText: "no preview" }).waitFor({ timeout: 5000 });
    await page.fill("#question", "What is this scan?");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").waitFor({ timeout: 20000 });
    assert.equal(await page.locator(".msg.error").count(), 0, "the TIFF was refused");

    // Model output is text, never HTML: a Markdown-looking answer renders safely.
    const rendered = await page.evaluate(() => {
      const div = document.createElement("div");
      renderMarkdown(div, "**bold** and `x<y>` <img src=x onerror=alert(1)>\n- one\n- two\n```\n<script>\n```");
      return { html: div.innerHTML, imgs: div.querySelectorAll("img,script").length };
    });
    assert.equal(rendered.imgs, 0);
    assert.match(rendered.html, /<strong>bold<\/strong>/);
    assert.match(rendered.html, /<li>one<\/li><li>two<\/li>/);
    assert.match(rendered.html, /&lt;img src=x/);

    // A slow encode (1536x1536 at the maximum detail) shows its progress under the image,
    // gone once the answer streams.
    const big = join(profile, "big.png");
    execFileSync("convert", ["-size", "1536x1536", "gradient:white-navy", big]);
    await page.click("#clear");
    await page.setInputFiles("#file-input", big);
    await page.selectOption("#detail", { index: 3 });
    await page.fill("#question", "Describe the gradient");
    await page.click("#send");
    // (generous waits: an ASan build on a busy machine takes a minute over this encode)
    await page.locator("#progress-label", { hasText: /reading the (image|question) \d+%/ }).waitFor({ timeout: 60000 });
    await page.locator(".msg.assistant .stats").waitFor({ timeout: 120000 });
    assert.ok(await page.locator("#progress").isHidden(), "the progress bar stays after the answer");
    await page.selectOption("#detail", { index: 1 });

    // Chinese interface.
    await page.click("#lang");
    assert.equal(await page.locator("#send").textContent(), "发送");

    // Phone width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.setInputFiles("#file-input", IMG);
    await page.fill("#question", "这是什么？");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").waitFor({ timeout: 20000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone screen`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "phone.png"), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
