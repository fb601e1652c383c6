// load.mjs - a bounded load test of a running `qvl serve` (QVL_URL, QVL_PID):
// CLIENTS clients for SECONDS seconds, each sending one request after the
// other, mixed: plain and streamed text questions on both APIs, image
// questions, "extract the text" (OCR) questions, malformed requests (broken
// JSON, a bad image, a wrong type) and streams the client leaves after the
// first event. Reports completed requests, outcomes by status per kind,
// p50/p99 latency, the server's RSS, open fds and threads at the start, the
// middle and the end, as one JSON object on stdout; exits 1 (saying why on
// stderr) when the server misbehaved:
//   - a status a kind must never get (500s, a 200 for malformed input, a 4xx
//     for a valid request other than 429/503 when the server is full),
//   - a network error other than the ones the client caused,
//   - after the run: /health not ok or busy slots left.
// (The fds and threads the server holds once the clients are gone are
// checked by run.sh: this process's own keep-alive connections hold some.)
//   QVL_URL=... QVL_PID=... node tests/load/load.mjs [CLIENTS] [SECONDS]
import { readFileSync, readdirSync } from "node:fs";

const URL = process.env.QVL_URL, PID = process.env.QVL_PID;
const CLIENTS = Number(process.argv[2] || 20), SECONDS = Number(process.argv[3] || 120);
const TD = process.env.QVL_TESTDATA || "../shared/testdata";
const png = readFileSync(`${TD}/images/img_256x256.png`).toString("base64");
const doc = readFileSync("tests/ocr/set/doc_en_01_clean.png").toString("base64");

function procStats() {
  const status = readFileSync(`/proc/${PID}/status`, "utf8");
  const field = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)[1]);
  return { rss_mb: +(field("VmRSS") / 1024).toFixed(1), threads: field("Threads"),
           fds: readdirSync(`/proc/${PID}/fd`).length };
}

const json = (body) => ({ method: "POST", headers: { "Content-Type": "application/json" },
                          body: typeof body === "string" ? body : JSON.stringify(body) });
const ask = (question, extra = {}) => ["/api/v1/chat", json({ question, max_tokens: 8, temperature: 0.7, ...extra })];
const oai = (content, extra = {}) =>
  ["/v1/chat/completions", json({ messages: [{ role: "user", content }], max_tokens: 8, ...extra })];

// kind -> [weight, () => [path, init], statuses that are fine, leave after the first chunk]
const BUSY = [429, 503];
const kinds = {
  text:          [4, () => ask("Say something short."), [200, ...BUSY]],
  text_stream:   [3, () => oai("Count to three.", { stream: true }), [200, ...BUSY]],
  image:         [3, () => ask("What is in this picture?", { image: png }), [200, ...BUSY]],
  image_openai:  [2, () => oai([{ type: "text", text: "Describe it." },
                                { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } }]),
                  [200, ...BUSY]],
  ocr:           [2, () => ask("Extract the text from this image.", { image: doc }), [200, ...BUSY]],
  broken_json:   [1, () => ["/api/v1/chat", json('{"question": "hi", ')], [400]],
  bad_image:     [1, () => ask("What is this?", { image: Buffer.from("not an image at all").toString("base64") }),
                  [400, 415, 422]],
  wrong_type:    [1, () => oai("hi", { max_tokens: "many" }), [400]],
  leave_stream:  [2, () => oai("Tell a long story.", { stream: true, max_tokens: 400 }), [200, ...BUSY], true],
};
const deck = Object.entries(kinds).flatMap(([k, [w]]) => Array(w).fill(k));

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const outcomes = {}, latencies = [], problems = [];
let completed = 0;

async function one(kind) {
  const [, make, ok, leave] = kinds[kind];
  const [path, init] = make();
  const ctl = new AbortController();
  const t0 = performance.now();
  let status = "network";
  try {
    const r = await fetch(URL + path, { ...init, signal: ctl.signal });
    status = r.status;
    if (leave && r.ok) {
      const reader = r.body.getReader();
      await reader.read();
      ctl.abort();
      status = "left";
    } else {
      await r.arrayBuffer();
    }
  } catch (e) {
    if (status !== "left" && e.name !== "AbortError") problems.push(`${kind}: ${e.message}`);
  }
  const key = `${kind} ${status}`;
  outcomes[key] = (outcomes[key] || 0) + 1;
  if (status !== "left" && !ok.includes(status)) problems.push(`${kind}: status ${status}`);
  latencies.push(performance.now() - t0);
  completed++;
}

async function client(deadline) {
  while (performance.now() < deadline) await one(deck[Math.floor(rand() * deck.length)]);
}

const start = procStats();
const t0 = performance.now(), deadline = t0 + SECONDS * 1000;
let middle = null;
const mid = setTimeout(() => { middle = procStats(); }, SECONDS * 500);
// RSS every 5 s; the slope over the last three quarters (after caches and
// pools have filled) is what a leak would show as.
const rss = [];
const sampler = setInterval(() => rss.push([(performance.now() - t0) / 60000, procStats().rss_mb]), 5000);
await Promise.all(Array.from({ length: CLIENTS }, () => client(deadline)));
clearTimeout(mid);
clearInterval(sampler);
function slope(pts) {   // least squares, MB per minute
  const n = pts.length, mx = pts.reduce((s, p) => s + p[0], 0) / n, my = pts.reduce((s, p) => s + p[1], 0) / n;
  const sxx = pts.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return sxx > 0 ? +(pts.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0) / sxx).toFixed(2) : null;
}
const late = rss.slice(Math.floor(rss.length / 4));
const mean = (xs) => xs.reduce((s, p) => s + p[1], 0) / xs.length;
const half = Math.floor(rss.length / 2);
const growth = half >= 1 ? +((mean(rss.slice(half)) / mean(rss.slice(0, half)) - 1) * 100).toFixed(1) : null;
// Let the server finish what the leaving clients started.
let health = null;
for (let i = 0; i < 200; i++) {
  health = await (await fetch(URL + "/health")).json();
  if (health.slots.busy === 0) break;
  await new Promise((r) => setTimeout(r, 50));
}
const end = procStats();
const sorted = latencies.sort((a, b) => a - b);
const pct = (p) => +sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))].toFixed(1);
const report = { clients: CLIENTS, seconds: SECONDS, completed, p50_ms: pct(0.5), p99_ms: pct(0.99),
                 outcomes, start, middle, end, rss_slope_mb_per_min: late.length >= 3 ? slope(late) : null,
                 rss_growth_between_halves_pct: growth,
                 problems: problems.slice(0, 20), n_problems: problems.length };
console.log(JSON.stringify(report, null, 1));
if (health.status !== "ok") problems.push(`health after the run: ${JSON.stringify(health)}`);
if (health.slots.busy !== 0) problems.push(`${health.slots.busy} slots still busy 10 s after the run`);
if (problems.length) {
  console.error("load test: " + problems.slice(0, 20).join("\n  "));
  process.exit(1);
}
