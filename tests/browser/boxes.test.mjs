// The web page's boxes and fields mode in headless Chromium (playwright-core)
// against a running `qvl serve` (QVL_URL). The synthetic model writes no boxes
// and no JSON, so the answers here are served by the test (page.route): what
// is checked is the page's part - that it asks for boxes, draws each where the
// server's pixel coordinates say over the preview (also for a photo turned by
// its EXIF orientation), labels it, hides and shows it with the toggle, and
// turns a fields answer into a table. With QVL_SHOTS=DIR it saves screenshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";
import { exifJpeg } from "../api/exif_jpeg.mjs";

const URL = process.env.QVL_URL;
const TD = process.env.QVL_TESTDATA || "../shared/testdata";
const SHOTS = process.env.QVL_SHOTS || "";

// An SSE answer as /api/v1/chat streams it: one text event, then the final one.
function sse(response, extra) {
  const done = { done: true, response, conversation_id: "0".repeat(32), finish_reason: "stop", route: "vlm",
                 usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
                 timings: { queue_ms: 0, image_ms: 1, prompt_ms: 1, predicted_ms: 1, predicted_per_second: 5,
                            route: "vlm" }, ...extra };
  return `data: ${JSON.stringify({ text: response })}\n\ndata: ${JSON.stringify(done)}\n\n`;
}

// Each drawn box's rectangle in pixels of the image as shown, with its label.
async function drawn(page) {
  return page.evaluate(() => {
    const img = document.getElementById("preview").getBoundingClientRect();
    const layer = document.getElementById("box-layer").getBoundingClientRect();
    return { img: { w: img.width, h: img.height, x: img.x, y: img.y },
             layer: { w: layer.width, h: layer.height, x: layer.x, y: layer.y },
             boxes: [...document.querySelectorAll("#box-layer .box")].map((b) => {
               const r = b.getBoundingClientRect();
               return { x: r.x - layer.x, y: r.y - layer.y, w: r.width, h: r.height, label: b.textContent,
                        visible: r.width > 0 && b.checkVisibility() };
             }) };
  });
}

// Checks the drawn boxes against the server's pixel boxes of a width x height image.
function checkPlaced(d, boxes, image, what) {
  assert.equal(d.boxes.length, boxes.length, what);
  const sx = d.layer.w / image.width, sy = d.layer.h / image.height;
  // The layer covers the picture (object-fit: contain) and keeps its aspect.
  assert.ok(Math.abs(sx - sy) < 0.02 * sx, `${what}: layer ${d.layer.w}x${d.layer.h} for ${image.width}x${image.height}`);
  assert.ok(d.layer.w <= d.img.w + 1 && d.layer.h <= d.img.h + 1, what);
  boxes.forEach((b, i) => {
    const got = d.boxes[i];
    const near = (a, e) => Math.abs(a - e) <= 2.5;   // the 2px border and rounding
    assert.ok(near(got.x, b.x1 * sx) && near(got.y, b.y1 * sy) && near(got.w, (b.x2 - b.x1) * sx) &&
              near(got.h, (b.y2 - b.y1) * sy), `${what}: box ${i} drawn at ${JSON.stringify(got)}, ` +
              `expected ${b.x1 * sx},${b.y1 * sy} ${(b.x2 - b.x1) * sx}x${(b.y2 - b.y1) * sy}`);
    assert.equal(got.label, b.label);
  });
}

test("the page draws the answer's boxes over the image and shows fields as a table", async () => {
  const { context, profile, close } = await launchChromium();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    let answer = null;
    const sent = [];
    await page.route("**/api/v1/chat", (route) => {
      sent.push(JSON.parse(route.request().postData()));
      route.fulfill({ status: 200, contentType: "text/event-stream", body: answer });
    });
    await page.goto(URL + "/");

    // A 320x256 picture, two boxes (one at the very corner, one with a Chinese label).
    const boxes = [{ label: "cat", x1: 0, y1: 0, x2: 160, y2: 128 }, { label: "红色杯子", x1: 200, y1: 100, x2: 300, y2: 250 }];
    const image = { width: 320, height: 256 };
    answer = sse("```json\n[...]\n```", { boxes, image });
    await page.setInputFiles("#file-input", `${TD}/images/img_320x256.png`);
    await page.locator("#preview").waitFor({ state: "visible" });
    await page.fill("#question", "Where are the cat and the cup?");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").waitFor({ timeout: 10000 });
    assert.equal(sent.at(-1).boxes, true, "the page did not ask for boxes");
    await page.locator("#box-layer .box").nth(1).waitFor();
    let d = await drawn(page);
    checkPlaced(d, boxes, image, "320x256");
    assert.ok(d.boxes.every((b) => b.visible));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "boxes.png") });

    // The toggle hides them and shows them again; a narrow window keeps them on the picture.
    await page.click("#show-boxes");
    assert.ok((await drawn(page)).boxes.every((b) => !b.visible), "boxes still shown with the toggle off");
    await page.click("#show-boxes");
    await page.setViewportSize({ width: 320, height: 640 });
    await page.waitForFunction((w) => document.getElementById("preview").getBoundingClientRect().width < w - 20,
                               d.img.w);
    d = await drawn(page);
    assert.ok(d.boxes.every((b) => b.visible));
    checkPlaced(d, boxes, image, "narrow window");
    await page.setViewportSize({ width: 1200, height: 800 });

    // A photo taken sideways: stored 64x32 with EXIF orientation 6, shown upright (32x64), and the
    // server's boxes are in that upright image's pixels.
    const photo = join(profile, "sideways.jpg");
    writeFileSync(photo, exifJpeg(64, 32, 6));
    const upright = { width: 32, height: 64 };
    const tall = [{ label: "top half", x1: 0, y1: 0, x2: 32, y2: 32 }];
    answer = sse("[...]", { boxes: tall, image: upright });
    await page.setInputFiles("#file-input", photo);
    await page.waitForFunction(() => document.getElementById("preview").naturalWidth === 32);
    assert.equal(await page.locator("#box-layer .box").count(), 0, "a new image keeps the old boxes");
    await page.fill("#question", "Where is the top?");
    await page.click("#send");
    await page.locator("#box-layer .box").waitFor();
    d = await drawn(page);
    assert.ok(d.img.h > d.img.w, `the preview is not upright: ${d.img.w}x${d.img.h}`);
    checkPlaced(d, tall, upright, "EXIF 6");

    // Fields mode: the field names become a question asking for exactly those keys; the JSON
    // answer becomes a table, a missing field shows as missing.
    await page.selectOption("#mode", "fields");
    answer = sse("```json\n{\"brand\": \"ACME\", \"item number\": \"X-1 2\", \"composition\": null}\n```", {});
    await page.fill("#question", "brand, item number\ncomposition, brand");
    await page.click("#send");
    const table = page.locator(".msg.assistant .fields-table").last();
    await table.waitFor({ timeout: 10000 });
    const q = sent.at(-1).question;
    for (const f of ["\"brand\"", "\"item number\"", "\"composition\""]) assert.ok(q.includes(f), q);
    const rows = await table.locator("tbody tr").evaluateAll((trs) => trs.map((tr) =>
      [...tr.cells].map((c) => c.textContent)));
    assert.deepEqual(rows, [["brand", "ACME"], ["item number", "X-1 2"], ["composition", "—"]]);
    assert.match(await page.locator(".msg.user").last().textContent(), /brand, item number, composition/);
    // Not JSON: the fields are missing and the raw answer is shown.
    answer = sse("I cannot read it.", {});
    await page.fill("#question", "brand");
    await page.click("#send");
    await page.locator(".msg.assistant pre", { hasText: "I cannot read it." }).waitFor({ timeout: 10000 });
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "fields.png") });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
