// Several images in one question on the web page, in headless Chromium
// (playwright-core) against a running `qvl serve` (QVL_URL): two images
// chosen at once give two thumbnails, the question goes to the real server
// with both in order and is answered, a thumbnail selects its image, removing
// one leaves one (and the next question sends just it, as a new
// conversation), a new image after an answer starts a new set, boxes are drawn
// on the first image, and a phone-width screen with several images has
// nothing wider than itself. With QVL_SHOTS=DIR it saves screenshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, watchedPage } from "./chromium.mjs";

const URL = process.env.QVL_URL;
const TD = process.env.QVL_TESTDATA || "../shared/testdata";
const SHOTS = process.env.QVL_SHOTS || "";
const A = `${TD}/images/img_320x256.png`, B = `${TD}/images/img_256x256.png`;

const thumbs = (page) => page.locator("#thumbs .thumb");
const natural = (page) => page.evaluate(() => document.getElementById("preview").naturalWidth);

test("the page: several images in one question, thumbnails, remove, boxes on the first", async () => {
  const { context, close } = await launchChromium();
  try {
    const { page, errors, sent } = await watchedPage(context);
    await page.goto(URL + "/");
    assert.equal(await page.locator("#file-input").getAttribute("multiple"), "");

    // Two images chosen at once: two thumbnails, the last one shown large.
    await page.setInputFiles("#file-input", [A, B]);
    await thumbs(page).nth(1).waitFor();
    assert.equal(await thumbs(page).count(), 2);
    await page.waitForFunction(() => document.getElementById("preview").naturalWidth === 256);
    assert.match(await page.locator("#image-info").textContent(), /image 2 of 2/);
    // A thumbnail selects its image.
    await thumbs(page).nth(0).locator(".thumb-pick").click();
    await page.waitForFunction(() => document.getElementById("preview").naturalWidth === 320);
    assert.equal(await page.locator("#thumbs .thumb").first().evaluate((e) => e.classList.contains("selected")), true);

    // The question goes with both, in order, and the real server answers it.
    await page.fill("#question", "What changed?");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").waitFor({ timeout: 30000 });
    assert.equal(await page.locator(".msg.error").count(), 0);
    const b64 = (f) => readFileSync(f).toString("base64");
    assert.equal(sent.length, 1);
    assert.equal(sent[0].images.length, 2);
    assert.equal(sent[0].images[0], `data:image/png;base64,${b64(A)}`);
    assert.equal(sent[0].images[1], `data:image/png;base64,${b64(B)}`);
    assert.equal(sent[0].image, undefined);
    // A follow-up uses the conversation, not the images again.
    await page.fill("#question", "And the colours?");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").nth(1).waitFor({ timeout: 30000 });
    assert.ok(sent[1].conversation_id && !sent[1].images, JSON.stringify(Object.keys(sent[1])));

    // Remove one: one is left, and the next question sends just it, as a new conversation.
    await thumbs(page).nth(0).locator(".thumb-remove").click();
    assert.ok(await page.locator("#thumbs").isHidden(), "a strip for one image");
    assert.equal(await thumbs(page).count(), 1);
    assert.equal(await natural(page), 256);
    await page.fill("#question", "And now?");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").nth(2).waitFor({ timeout: 30000 });
    assert.equal(sent[2].images.length, 1);
    assert.equal(sent[2].images[0], `data:image/png;base64,${b64(B)}`);
    assert.equal(sent[2].conversation_id, undefined);

    // After an answer a new image starts a new set: one thumbnail's worth, not two.
    await page.setInputFiles("#file-input", A);
    await page.waitForFunction(() => document.getElementById("preview").naturalWidth === 320);
    assert.ok(await page.locator("#thumbs").isHidden());
    // Then more are added to it (before asking), up to the server's limit of 8.
    await page.setInputFiles("#file-input", [B, B, B, B, B, B, B, B]);
    await page.locator(".msg.error", { hasText: "At most 8 images" }).waitFor();
    assert.equal(await thumbs(page).count(), 8);

    // Boxes are drawn on the first image: an answer with boxes while another one is shown
    // brings the first back and draws them.
    await page.route("**/api/v1/chat", (route) => {
      const done = { done: true, response: "[...]", conversation_id: "1".repeat(32), finish_reason: "stop",
                     route: "vlm", usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
                     timings: { queue_ms: 0, image_ms: 1, prompt_ms: 1, predicted_ms: 1, predicted_per_second: 5,
                                route: "vlm" },
                     boxes: [{ label: "cup", x1: 0, y1: 0, x2: 160, y2: 128 }], image: { width: 320, height: 256 } };
      route.fulfill({ status: 200, contentType: "text/event-stream", body: `data: ${JSON.stringify(done)}\n\n` });
    });
    await thumbs(page).nth(3).locator(".thumb-pick").click();
    await page.waitForFunction(() => document.getElementById("preview").naturalWidth === 256);
    await page.fill("#question", "Where is the cup?");
    await page.click("#send");
    await page.locator("#box-layer .box").waitFor({ timeout: 10000 });
    assert.equal(await natural(page), 320, "the boxes are drawn over another image than the first");
    assert.equal(sent.at(-1).images.length, 8);
    // Another image shown: no boxes over it; the first again: they are back.
    await thumbs(page).nth(1).locator(".thumb-pick").click();
    assert.equal(await page.locator("#box-layer .box").count(), 0);
    await thumbs(page).nth(0).locator(".thumb-pick").click();
    assert.equal(await page.locator("#box-layer .box").count(), 1);
    await page.unroute("**/api/v1/chat");

    // Chinese, and a phone-width screen with eight thumbnails: nothing wider than the screen.
    await page.click("#lang");
    await thumbs(page).nth(2).locator(".thumb-pick").click();
    assert.match(await page.locator("#image-info").textContent(), /第 3 张，共 8 张/);
    await page.setViewportSize({ width: 375, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone screen`);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "multi_image_phone.png"), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
