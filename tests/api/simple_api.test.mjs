// The simple API (POST /api/v1/chat), /tokenize, /detokenize and /metrics
// against a running `qvl serve` (QVL_URL; see tests/cli/test_server.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { checkDecodeTimings } from "./check_timings.mjs";
import { gradientPng } from "./big_image.mjs";
import { exifJpeg } from "./exif_jpeg.mjs";
import { freshBmp } from "./fresh_bmp.mjs";

const URL = process.env.QVL_URL;
const TD = process.env.QVL_TESTDATA || "../shared/testdata";
const pngBytes = readFileSync(`${TD}/images/img_256x256.png`);
const png = pngBytes.toString("base64");

async function post(path, body) {
  const r = await fetch(URL + path, { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

async function events(body) {
  const r = await fetch(URL + "/api/v1/chat", { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify({ ...body, stream: true }) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/event-stream/);
  const text = await r.text();
  return text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => JSON.parse(e.slice(6)));
}

test("an answer has response, ISO timestamp, model and a conversation id", async () => {
  const { status, json } = await post("/api/v1/chat", { image: png, question: "What is this?", max_tokens: 4,
                                                         temperature: 0 });
  assert.equal(status, 200);
  assert.equal(typeof json.response, "string");
  assert.match(json.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.ok(Math.abs(Date.parse(json.timestamp) - Date.now()) < 60000);
  assert.equal(json.model, (await (await fetch(URL + "/v1/models")).json()).data[0].id);
  assert.match(json.conversation_id, /^[0-9a-f]{32}$/);
  assert.ok(json.usage.completion_tokens <= 4);
});

test("a follow-up with conversation_id keeps the image and the history, and reuses its encoding", async () => {
  const img = freshBmp();
  const first = (await post("/api/v1/chat", { image: img, question: "What is this?", max_tokens: 4,
                                              temperature: 0 })).json;
  const alone = (await post("/api/v1/chat", { question: "And the colour?", max_tokens: 4, temperature: 0 })).json;
  const follow = await post("/api/v1/chat", { conversation_id: first.conversation_id, question: "And the colour?",
                                              max_tokens: 4, temperature: 0 });
  assert.equal(follow.status, 200);
  assert.equal(follow.json.conversation_id, first.conversation_id);
  // The follow-up prompt holds the first turn (image included) plus the new question.
  assert.ok(follow.json.usage.prompt_tokens > first.usage.prompt_tokens + alone.usage.prompt_tokens / 2,
            `${follow.json.usage.prompt_tokens} vs ${first.usage.prompt_tokens}`);
  // The image cache (src/generate/image_cache.h): the follow-up sends the same pixels at the same
  // detail, so its embeddings come from the cache instead of the vision encoder. image_ms still
  // counts decoding the image and the lookup, which cost a few percent of an encode (tiny model,
  // 256x256: ~250 ms encoding vs 5-15 ms). With the cache off (--image-cache-mb 0) both encode
  // and this fails.
  const f = follow.json.timings.image_ms, e = first.timings.image_ms;
  assert.ok(e > 0, "the first question encoded the image");
  assert.ok(f < e / 4, `follow-up image_ms ${f} vs ${e} for the first: the image was encoded again`);
  // The same image in another conversation comes from the cache too.
  const again = (await post("/api/v1/chat", { image: img, question: "Describe it", max_tokens: 2, temperature: 0 })).json;
  assert.ok(again.timings.image_ms < e / 4, `image_ms ${again.timings.image_ms} vs ${e}: not taken from the cache`);
});

test("streamed events add up to the final response", async () => {
  const req = { question: "Say something", max_tokens: 8, temperature: 0, ignore_eos: true };
  const t0 = performance.now();
  const evs = await events(req);
  const wall = performance.now() - t0;
  const pieces = evs.filter((e) => e.text !== undefined).map((e) => e.text).join("");
  const done = evs.at(-1);
  assert.equal(done.done, true);
  assert.equal(pieces, done.response);
  assert.equal(done.usage.completion_tokens, 8);
  checkDecodeTimings(done.timings, done.usage, wall);
  const whole = (await post("/api/v1/chat", req)).json;
  assert.equal(whole.response, done.response);
});

test("a streamed image question reports the encoder's blocks, then the prompt, before the first text", async () => {
  // The tiny test model's vision tower has 4 blocks (shared/docs/test-model.md).
  const depth = 4;
  const evs = await events({ image: gradientPng(), question: "What is this?", max_tokens: 2, temperature: 0,
                             max_pixels: 2000000 });
  const firstText = evs.findIndex((e) => "text" in e || e.done);
  const progress = evs.filter((e) => e.progress);
  assert.ok(progress.every((e) => evs.indexOf(e) < firstText), "progress after the first text");
  const image = progress.filter((e) => e.progress.stage === "image").map((e) => e.progress);
  assert.ok(image.length >= 2, `image progress events: ${JSON.stringify(image)}`);
  assert.ok(image.every((p, i) => p.total === depth && p.done >= 1 && p.done <= depth &&
                                  (i === 0 || p.done > image[i - 1].done)), JSON.stringify(image));
  const prompt = progress.filter((e) => e.progress.stage === "prompt").map((e) => e.progress);
  assert.ok(prompt.length >= 1, "no prompt progress");
  const last = prompt.at(-1), done = evs.at(-1);
  assert.equal(last.done, last.total);
  assert.equal(last.total, done.usage.prompt_tokens);
  assert.ok(evs.indexOf(progress.find((e) => e.progress.stage === "prompt")) >
            evs.indexOf(progress.findLast((e) => e.progress.stage === "image")), "the prompt before the image");
});

test("multipart/form-data works like JSON", async () => {
  const form = new FormData();
  form.append("image", new Blob([pngBytes], { type: "image/png" }), "photo.png");
  form.append("question", "What is this?");
  form.append("max_tokens", "4");
  form.append("temperature", "0");
  const r = await fetch(URL + "/api/v1/chat", { method: "POST", body: form });
  const viaForm = await r.json();
  assert.equal(r.status, 200, JSON.stringify(viaForm));
  const viaJson = (await post("/api/v1/chat", { image: `data:image/png;base64,${png}`, question: "What is this?",
                                                max_tokens: 4, temperature: 0 })).json;
  assert.equal(viaForm.response, viaJson.response);
  assert.equal(viaForm.usage.prompt_tokens, viaJson.usage.prompt_tokens);
});

test("max_pixels trades image detail for prompt length", async () => {
  const big = (await post("/api/v1/chat", { image: png, question: "q", max_tokens: 1 })).json;
  const small = (await post("/api/v1/chat", { image: png, question: "q", max_tokens: 1, max_pixels: 28 * 28 * 4 })).json;
  assert.ok(small.usage.prompt_tokens < big.usage.prompt_tokens, `${small.usage.prompt_tokens} < ${big.usage.prompt_tokens}`);
});

test("tokenize and detokenize round-trip", async () => {
  const text = "Hello, 世界! <b>";
  const tok = await post("/tokenize", { content: text });
  assert.equal(tok.status, 200);
  assert.ok(tok.json.tokens.every(Number.isInteger));
  const back = await post("/detokenize", { tokens: tok.json.tokens });
  assert.equal(back.json.content, text);
  const withPieces = await post("/tokenize", { content: "Hello", with_pieces: true });
  assert.deepEqual(withPieces.json.tokens.map((t) => t.piece).join(""), "Hello");
  assert.equal((await post("/detokenize", { tokens: [1e9] })).status, 400);
});

test("/metrics counts generated tokens", async () => {
  const count = async () => {
    const text = await (await fetch(URL + "/metrics")).text();
    return Number(/^qvl_generated_tokens_total (\d+)$/m.exec(text)[1]);
  };
  const before = await count();
  const r = (await post("/api/v1/chat", { question: "hi", max_tokens: 3 })).json;
  assert.equal(await count(), before + r.usage.completion_tokens);
});

test("boxes: true gives the boxes and the upright size of the image asked about", async () => {
  // The synthetic model writes no boxes, so the list is empty here (test_grounding.c checks the
  // conversion); what the server adds around it is checked: the size after EXIF rotation.
  for (const [o, w, h] of [[1, 64, 32], [6, 32, 64], [8, 32, 64], [3, 64, 32]]) {
    const { status, json } = await post("/api/v1/chat", { image: exifJpeg(64, 32, o).toString("base64"),
                                                           question: "Where is the red area?", max_tokens: 3,
                                                           boxes: true, mode: "vlm" });
    assert.equal(status, 200, JSON.stringify(json));
    assert.ok(Array.isArray(json.boxes));
    assert.deepEqual(json.image, { width: w, height: h }, `orientation ${o}`);
    // A follow-up is about the same image.
    const next = await post("/api/v1/chat", { conversation_id: json.conversation_id, question: "And now?",
                                              max_tokens: 2, boxes: true, mode: "vlm" });
    assert.deepEqual(next.json.image, { width: w, height: h });
  }
  // Streamed: on the final event. Without boxes: no such fields.
  const evs = await events({ image: png, question: "q", max_tokens: 2, boxes: true });
  assert.deepEqual(evs.at(-1).image, { width: 256, height: 256 });
  const plain = (await post("/api/v1/chat", { image: png, question: "q", max_tokens: 2 })).json;
  assert.equal(plain.boxes, undefined);
  // Refused: boxes without an image, or not a boolean.
  const none = await post("/api/v1/chat", { question: "Where?", boxes: true });
  assert.equal(none.status, 400);
  assert.match(none.json.error.message, /'boxes' needs an image/);
  assert.equal((await post("/api/v1/chat", { image: png, question: "Where?", boxes: "yes" })).status, 400);
});
