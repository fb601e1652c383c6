// Several images in one question of the simple API (POST /api/v1/chat):
// "images" (JSON) and several "image" file parts (multipart), in order,
// against a running `qvl serve` (QVL_URL; tests/cli/test_server.sh starts it
// with --max-image-mb 1 and the default --ctx 4096). The synthetic model's
// answers are gibberish, so what is checked is what reaches it: the prompt
// grows with each image, the order is kept (boxes: true reports the size of
// the first image), follow-ups keep them all, and the limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exifJpeg } from "./exif_jpeg.mjs";
import { gradientPng } from "./big_image.mjs";
import { freshBmp } from "./fresh_bmp.mjs";

const URL = process.env.QVL_URL;
const SMALL = 28 * 28 * 16;   // max_pixels: a few image tokens each, so the tests stay fast

async function post(body) {
  const r = await fetch(URL + "/api/v1/chat", { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

async function postForm(form) {
  const r = await fetch(URL + "/api/v1/chat", { method: "POST", body: form });
  return { status: r.status, json: await r.json() };
}

// Two pictures of different upright sizes, so the reported size tells which one came first.
const wide = exifJpeg(64, 32, 1), tall = exifJpeg(48, 96, 1);
const b64 = (buf) => buf.toString("base64");
const ask = { question: "What changed?", max_tokens: 2, temperature: 0, mode: "vlm", boxes: true };

test("two images both reach the model, in order", async () => {
  const one = await post({ ...ask, images: [b64(wide)] });
  const two = await post({ ...ask, images: [b64(wide), b64(tall)] });
  const swapped = await post({ ...ask, images: [b64(tall), b64(wide)] });
  for (const r of [one, two, swapped]) assert.equal(r.status, 200, JSON.stringify(r.json));
  // The second image adds its image tokens (and its vision markers) to the prompt.
  assert.ok(two.json.usage.prompt_tokens > one.json.usage.prompt_tokens + 2,
            `${two.json.usage.prompt_tokens} vs ${one.json.usage.prompt_tokens} with one image`);
  assert.equal(swapped.json.usage.prompt_tokens, two.json.usage.prompt_tokens);
  // Boxes are about the first image: the order reached the model's side.
  assert.deepEqual(two.json.image, { width: 64, height: 32 });
  assert.deepEqual(swapped.json.image, { width: 48, height: 96 });
  // "image" and "images" together: "image" first.
  const both = await post({ ...ask, image: b64(tall), images: [b64(wide)] });
  assert.equal(both.status, 200);
  assert.equal(both.json.usage.prompt_tokens, two.json.usage.prompt_tokens);
  assert.deepEqual(both.json.image, { width: 48, height: 96 });
});

test("a follow-up keeps every image of the conversation", async () => {
  const first = await post({ ...ask, images: [b64(wide), b64(tall)] });
  const single = await post({ ...ask, images: [b64(wide)] });
  const q = { question: "And now?", max_tokens: 2, temperature: 0, mode: "vlm", boxes: true };
  const next = await post({ ...q, conversation_id: first.json.conversation_id });
  const nextSingle = await post({ ...q, conversation_id: single.json.conversation_id });
  assert.equal(next.status, 200, JSON.stringify(next.json));
  // Both prompts hold their first turn and the same new question: the difference is the second image.
  assert.equal(next.json.usage.prompt_tokens - nextSingle.json.usage.prompt_tokens,
               first.json.usage.prompt_tokens - single.json.usage.prompt_tokens);
  assert.ok(next.json.usage.prompt_tokens > first.json.usage.prompt_tokens);
  assert.deepEqual(next.json.image, { width: 64, height: 32 }, "boxes follow the first image");
});

test("multipart: several image file parts, in order, like JSON", async () => {
  const form = new FormData();
  form.append("image", new Blob([tall], { type: "image/jpeg" }), "before.jpg");
  form.append("image", new Blob([wide], { type: "image/jpeg" }), "after.jpg");
  for (const [k, v] of Object.entries(ask)) form.append(k, String(v));
  const viaForm = await postForm(form);
  assert.equal(viaForm.status, 200, JSON.stringify(viaForm.json));
  const viaJson = await post({ ...ask, images: [b64(tall), b64(wide)] });
  assert.equal(viaForm.json.usage.prompt_tokens, viaJson.json.usage.prompt_tokens);
  assert.equal(viaForm.json.response, viaJson.json.response);
  assert.deepEqual(viaForm.json.image, { width: 48, height: 96 });
  // A bad second file is named as such.
  const bad = new FormData();
  bad.append("image", new Blob([wide], { type: "image/jpeg" }), "a.jpg");
  bad.append("image", new Blob([Buffer.from("not an image at all")], { type: "image/png" }), "b.png");
  bad.append("question", "q");
  const r = await postForm(bad);
  assert.equal(r.status, 415, JSON.stringify(r.json));
  assert.match(r.json.error.message, /image 2/);
});

test("a text-reading question about several images: OCR reads each, or the model reads them all", async () => {
  const q = { question: "Extract the text from the image", max_tokens: 2 };
  const one = await post({ ...q, images: [b64(wide)] });
  assert.equal(one.status, 200);
  // One image: the OCR path reads it (or tries, and falls back to the model).
  assert.ok(one.json.route === "ocr" || one.json.ocr_fallback === true, JSON.stringify(one.json));
  const two = await post({ ...q, images: [b64(wide), b64(tall)] });
  assert.equal(two.status, 200);
  // Each image has its own reading; with none trusted the model answers, having seen both.
  assert.equal(two.json.ocr.images.length, 2, JSON.stringify(two.json.ocr));
  assert.deepEqual(two.json.ocr.images.map((i) => i.image), [1, 2]);
  if (two.json.route === "ocr") assert.match(two.json.response, /--- image 1 ---[^]*--- image 2 ---/);
  else assert.ok(two.json.ocr_fallback && two.json.timings.images === 2, JSON.stringify(two.json));
});

test("nine images are refused with 400, JSON and multipart", async () => {
  const nine = Array(9).fill(b64(wide));
  const r = await post({ question: "q", images: nine });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /at most 8 images.*has 9/);
  const form = new FormData();
  for (let i = 0; i < 9; i++) form.append("image", new Blob([wide], { type: "image/jpeg" }), `${i}.jpg`);
  form.append("question", "q");
  const f = await postForm(form);
  assert.equal(f.status, 400, JSON.stringify(f.json));
  assert.match(f.json.error.message, /at most 8 images/);
  // Malformed "images" fields.
  assert.equal((await post({ question: "q", images: b64(wide) })).status, 400);
  const empty = await post({ question: "q", images: [b64(wide), ""] });
  assert.equal(empty.status, 400);
  assert.match(empty.json.error.message, /'images' item 2/);
});

test("the body limit takes several images of --max-image-mb each; one too large is named", async () => {
  // Four random 0.9 MB BMPs: 4.8 MB of base64, more than two images' worth (the old limit).
  const four = [1, 2, 3, 4].map(() => freshBmp(560, 540));
  const r = await post({ question: "q", images: four, max_tokens: 1, max_pixels: SMALL, mode: "vlm" });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  // The third over 1 MB: 413 naming it.
  const big = Buffer.alloc(1100 * 1024);
  wide.copy(big);
  const over = await post({ question: "q", images: [b64(wide), b64(wide), b64(big)] });
  assert.equal(over.status, 413, JSON.stringify(over.json));
  assert.match(over.json.error.message, /image 3/);
});

test("the context pre-check counts every image", async () => {
  // Four 1024x1024 images at full detail need ~1024 image tokens each: 4096 and more do not fit
  // --ctx 4096 (one or three would). Refused before any encoding.
  const imgs = [0, 1, 2, 3].map((s) => gradientPng(1024, 1024, s));
  const t0 = Date.now();
  const r = await post({ question: "q", images: imgs, max_pixels: 1024 * 1024, mode: "vlm" });
  assert.equal(r.status, 413, JSON.stringify(r.json));
  const m = /(\d+) image tokens/.exec(r.json.error.message);
  assert.ok(m && Number(m[1]) >= 4000, r.json.error.message);
  assert.ok(Date.now() - t0 < 10000, "the check waited for an encode");
});
