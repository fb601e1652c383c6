// traffic.mjs URL REPLICAS_JSON IMAGE - mixed traffic through nginx in front
// of qvl replicas, then one replica killed mid-run (tests/integration/
// test_cluster.sh starts the cluster and checks that stop leaves nothing).
// Exits non-zero on the first failed check; prints what it measured.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const [url, replicasPath, imagePath] = process.argv.slice(2);
const replicas = JSON.parse(readFileSync(replicasPath, "utf8"));
const image = "data:image/png;base64," + readFileSync(imagePath).toString("base64");
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);

async function post(path, body, convId) {
  const headers = { "Content-Type": "application/json" };
  if (convId) headers["X-Conversation-Id"] = convId;
  const r = await fetch(url + path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* SSE or an error page: kept as text */ }
  return { status: r.status, instance: r.headers.get("x-qvl-instance"), conv: r.headers.get("x-conversation-id"),
           type: r.headers.get("content-type"), json, text };
}
const ask = (question, convId, extra = {}) =>
  post("/api/v1/chat", { question, max_tokens: 4, temperature: 0, ...extra }, convId);
const newConversation = () => ask("What is in this picture?", undefined, { image });

// A streamed answer read as it arrives: how many separate reads brought it,
// how long after its first text event its last event came, and how long the
// server says the generation took (timings.predicted_ms of the done event).
async function stream(question, maxTokens) {
  const r = await fetch(url + "/api/v1/chat", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ question, image, stream: true, max_tokens: maxTokens, ignore_eos: true }) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/event-stream/);
  const reader = r.body.getReader();
  let reads = 0, first = 0, all = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    reads++;
    all += new TextDecoder().decode(value);
    if (!first && all.includes('"text"')) first = Date.now();
  }
  const doneEvent = all.split("\n").filter((l) => l.includes('"done":true')).map((l) => JSON.parse(l.slice(6)))[0];
  assert.ok(doneEvent, "the stream ended with its done event");
  return { reads, spread: Date.now() - first, generation: doneEvent.timings.predicted_ms };
}

// ---- 1. mixed traffic, all replicas up ----
const mixed = await Promise.all([
  ...Array.from({ length: 6 }, newConversation),
  post("/v1/chat/completions", { messages: [{ role: "user", content: "Hello" }], max_tokens: 4 }),
  post("/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "text", text: "And this?" },
    { type: "image_url", image_url: { url: image } }] }], max_tokens: 4, stream: true }),
  ask("Read the text in this image.", undefined, { image, mode: "ocr" }),
]);
for (const r of mixed) assert.equal(r.status, 200, r.text.slice(0, 300));
const convs = mixed.slice(0, 6).map((r) => ({ id: r.json.conversation_id, instance: r.instance }));
for (const c of convs) assert.match(c.id, new RegExp(`^${c.instance}-[0-9a-f]{32}$`), "id names its replica");
const used = new Set(mixed.map((r) => r.instance));
assert.equal(used.size, replicas.length, `new work reached every replica (${[...used]})`);
log(`mixed traffic: ${mixed.length} requests, 200 each, replicas used: ${[...used].sort().join(" ")}`);

// ---- 2. follow-ups reach the replica that holds the conversation ----
for (const c of convs) {
  const r = await ask("And the colours?", c.id);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.instance, c.instance, "follow-up on the conversation's replica");
  assert.equal(r.json.conversation_id, c.id);
  assert.ok(r.json.usage.prompt_tokens > 60, "the follow-up holds the first turn");
}
const chosen = await ask("What is this?", "client-chosen-7", { image });
assert.equal(chosen.status, 200);
for (let i = 0; i < 3; i++) {
  const r = await ask("More?", "client-chosen-7");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.instance, chosen.instance, "a client-chosen id stays on one replica");
}
log(`follow-ups: ${convs.length} by instance prefix + 3 by a client-chosen id, each on its replica`);

// ---- 3. SSE passes through unbuffered ----
// Buffered, every event would arrive at the end together; unbuffered, the
// last comes about as long after the first text as the generation took
// (ignore_eos: exactly max_tokens tokens, whatever the test model says).
const s = await stream("Tell me a long story.", 600);
assert.ok(s.generation >= 60, `a streamed answer long enough to judge (${s.generation} ms)`);
assert.ok(s.reads >= 5 && s.spread >= s.generation * 0.5,
          `streamed in pieces: ${s.reads} reads, the last ${s.spread} ms after the first text, generation ${s.generation} ms`);
log(`stream: ${s.reads} reads, the last ${s.spread} ms after the first text (generation ${s.generation} ms)`);

// ---- 4. one replica killed mid-run ----
// The load is stateless (OpenAI API) and simple-API questions without a
// conversation id alternately: it must not push the conversations above out
// of the replicas' stores (--max-conversations).
const victim = replicas[0];
const survivors = new Set(replicas.slice(1).map((r) => r.instance));
let killedAt = 0, stopLoad = false;
const after = [], inFlight = [];
async function worker() {
  while (!stopLoad) {
    const started = Date.now();
    const r = (after.length + inFlight.length) % 2
      ? await post("/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "text", text: "What?" },
          { type: "image_url", image_url: { url: image } }] }], max_tokens: 4 })
      : await newConversation();
    (killedAt && started > killedAt + 100 ? after : inFlight).push(r);
  }
}
const load = Array.from({ length: 3 }, worker);
await new Promise((res) => setTimeout(res, 800));
process.kill(victim.pid, "SIGKILL");
killedAt = Date.now();
log(`killed ${victim.instance} (pid ${victim.pid}) under load`);
await new Promise((res) => setTimeout(res, 2500));
stopLoad = true;
await Promise.all(load);
for (const r of after) {
  assert.equal(r.status, 200, `a new request after the kill failed: ${r.status} ${r.text.slice(0, 200)}`);
  assert.ok(survivors.has(r.instance), `answered by a survivor, not ${r.instance}`);
}
assert.ok(after.length >= 5, `enough requests after the kill (${after.length})`);
const cut = inFlight.filter((r) => r.status !== 200);
for (const r of cut) assert.equal(r.status, 503, `a request cut by the kill gets the JSON 503, not ${r.status}`);
log(`after the kill: ${after.length} new requests, all 200 from a survivor; ` +
    `${cut.length} of ${inFlight.length} requests running at the kill cut short (503)`);

// ---- 5. conversations after the kill ----
for (const c of convs) {
  const r = await ask("Still there?", c.id);
  if (survivors.has(c.instance)) {
    assert.equal(r.status, 200, `a conversation on the survivor continues: ${r.text}`);
    assert.equal(r.instance, c.instance);
  } else {
    assert.equal(r.status, 400, "a conversation of the dead replica is refused");
    assert.match(r.json.error.message, /Send the image again/);
    const again = await ask("Still there?", undefined, { image });
    assert.equal(again.status, 200, "resending the image starts over");
  }
}
const health = await fetch(url + "/health");
assert.equal(health.status, 200);
log(`conversations: ${convs.filter((c) => survivors.has(c.instance)).length} on the survivor continued, ` +
    `${convs.filter((c) => !survivors.has(c.instance)).length} of the dead replica got 400 + resend worked`);
