// cancel.mjs - how fast a client that leaves during a maximum-detail image
// encode frees its slot, against a running `qvl serve` (QVL_URL): a streamed
// question about IMAGE at MAX_PIXELS, abandoned 0.5 s after the first image
// progress event (the encoder is running), then /health polled every 5 ms
// until no slot is busy. Prints one JSON line (median and runs, ms). For
// bench/run.sh; asserts nothing.
//   QVL_URL=http://127.0.0.1:8080 node bench/cancel.mjs IMAGE MAX_PIXELS [RUNS]
import { readFileSync } from "node:fs";

const URL = process.env.QVL_URL;
const [image, maxPixels, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const body = JSON.stringify({ image: readFileSync(image).toString("base64"), question: "What is in this photo?",
                              stream: true, max_tokens: 8, max_pixels: Number(maxPixels) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const busy = async () => (await (await fetch(URL + "/health")).json()).slots.busy;

async function once() {
  const ctl = new AbortController();
  const resp = await fetch(URL + "/api/v1/chat", { method: "POST", signal: ctl.signal, body,
                                                  headers: { "Content-Type": "application/json" } });
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  while (!buf.includes('"stage":"image"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the answer ended before the encoder reported progress: " + buf.slice(0, 300));
    buf += dec.decode(value, { stream: true });
  }
  await sleep(500);
  ctl.abort();
  const t0 = performance.now();
  while ((await busy()) !== 0) {
    if (performance.now() - t0 > 60000) throw new Error("the slot stayed busy for a minute after the disconnect");
    await sleep(5);
  }
  return performance.now() - t0;
}

const ms = [];
for (let i = 0; i < runs; i++) ms.push(await once());
const sorted = [...ms].sort((a, b) => a - b);
console.log(JSON.stringify({ cancel_ms_median: sorted[Math.floor(sorted.length / 2)], runs: ms }));
